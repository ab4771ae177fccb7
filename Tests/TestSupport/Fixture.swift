import Foundation
import SqueezeCore
import Testing

/// Reference values written by a test target's `Fixtures/make_*.py` scripts (numpy, scipy,
/// scikit-learn), read from that target's bundle.
public struct Fixture: @unchecked Sendable {
    public let value: Any

    public static func load(_ name: String, script: String, bundle: Bundle) -> Fixture {
        guard let url = bundle.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"),
              let data = try? Data(contentsOf: url),
              let json = try? JSONSerialization.jsonObject(with: data) else {
            fatalError("Fixtures/\(name).json is missing: run Fixtures/\(script)")
        }
        return Fixture(value: json)
    }

    public subscript(_ key: String) -> Fixture {
        Fixture(value: (value as? [String: Any])?[key] as Any)
    }

    public static func number(_ any: Any) -> Double {
        if let s = any as? String {
            switch s { case "nan": return .nan; case "inf": return .infinity; case "-inf": return -.infinity
            default: return Double(s) ?? .nan }
        }
        return (any as? NSNumber)?.doubleValue ?? .nan
    }

    public var double: Double { Fixture.number(value) }
    public var doubles: [Double] { ((value as? [Any]) ?? []).map(Fixture.number) }
    public var string: String { value as? String ?? "" }
    public var strings: [String] { value as? [String] ?? [] }
    /// The elements of an array.
    public var items: [Fixture] { ((value as? [Any]) ?? []).map { Fixture(value: $0) } }
    public var uint64: UInt64 { (value as? NSNumber)?.uint64Value ?? 0 }

    public var tensor: Tensor {
        let shape = ((self["shape"].value as? [Any]) ?? []).map { Int(Fixture.number($0)) }
        return Tensor(shape: shape, storage: self["data"].doubles.map { Float($0) })
    }
}

/// Elementwise closeness: |a − b| ≤ atol + rtol·|b|, NaN equal to NaN, shapes equal.
public func expectClose(_ a: Tensor, _ b: Tensor, rtol: Double = 1e-5, atol: Double = 1e-5,
                 _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.shape == b.shape, comment, sourceLocation: sourceLocation)
    guard a.shape == b.shape else { return }
    for (x, y) in zip(a.storage, b.storage) {
        if x.isNaN && y.isNaN { continue }
        if x == y { continue }
        let ok = abs(Double(x) - Double(y)) <= atol + rtol * abs(Double(y))
        #expect(ok, "\(x) vs \(y) \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation)
        if !ok { return }
    }
}

public func expectClose(_ a: Double, _ b: Double, rtol: Double = 1e-5, atol: Double = 1e-6,
                 _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    if a.isNaN && b.isNaN { return }
    if a == b { return }
    #expect(abs(a - b) <= atol + rtol * abs(b), "\(a) vs \(b) \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation)
}
