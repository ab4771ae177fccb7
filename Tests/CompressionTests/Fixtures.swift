import Foundation
import TestSupport

extension Fixture {
    /// scikit-learn's KMeans (`Fixtures/make_kmeans_fixtures.py`).
    static let kmeans = load("kmeans", script: "make_kmeans_fixtures.py", bundle: .module)
}
