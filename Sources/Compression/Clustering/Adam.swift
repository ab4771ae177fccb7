import Foundation
import SqueezeCore

/// Adam (Kingma & Ba 2015; β₁ 0.9, β₂ 0.999, ε 1e-8) over one flat parameter array, descending.
public struct Adam: Sendable {
    var m: [Float], v: [Float], t = 0
    let lr: Float

    public init(count: Int, lr: Double) {
        m = [Float](repeating: 0, count: count); v = m; self.lr = Float(lr)
    }

    public mutating func step(_ w: inout [Float], _ g: [Float]) {
        t += 1
        let c1 = 1 - powf(0.9, Float(t)), c2 = 1 - powf(0.999, Float(t))
        for i in 0..<w.count {
            m[i] = 0.9 * m[i] + 0.1 * g[i]
            v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
            w[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + 1e-8)
        }
    }
}
