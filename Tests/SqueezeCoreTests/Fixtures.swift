import Foundation
import TestSupport

extension Fixture {
    /// numpy and scipy values for the tensor core (`Fixtures/make_fixtures.py`).
    static let core = load("core", script: "make_fixtures.py", bundle: .module)
}
