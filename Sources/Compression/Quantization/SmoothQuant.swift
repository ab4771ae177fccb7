import Foundation
import SqueezeCore

/// SmoothQuant's migration scales (Xiao et al. 2023, smoothquant/smooth.py): s_j = max|X_j|^α /
/// max|W_:,j|^(1−α), the weights' maximum taken over every row of the layers sharing the input.
public enum SmoothQuant {
    /// max_t |x_tj| per column.
    public static func columnMaxima(_ X: Tensor) -> [Float] {
        let cols = X.shape[1]
        var mx = [Float](repeating: 0, count: cols)
        X.withBuffer { xp in for t in 0..<X.shape[0] { for j in 0..<cols { mx[j] = max(mx[j], abs(xp[t * cols + j])) } } }
        return mx
    }

    /// s_j = max(max|X_j|^α / max(max_{layers, rows}|W_rj|, 1e-5)^(1−α), 1e-5).
    public static func scales(activationMax: [Float], weights: [Tensor], alpha: Double) -> [Float] {
        let cols = activationMax.count
        var wmax = [Float](repeating: 0, count: cols)
        for W in weights { W.withBuffer { wp in for i in 0..<W.count { wmax[i % cols] = max(wmax[i % cols], abs(wp[i])) } } }
        return (0..<cols).map { j in
            max(powf(activationMax[j], Float(alpha)) / powf(max(wmax[j], 1e-5), Float(1 - alpha)), 1e-5)
        }
    }
}
