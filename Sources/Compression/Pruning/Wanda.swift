import Foundation
import SqueezeCore

extension Pruning {
    /// Wanda's score |W_ij| · ‖X_j‖₂ (X: calibration rows × inputs).
    public static func wandaScores(_ W: Tensor, X: Tensor) throws -> [Float] {
        guard W.rank == 2, X.rank == 2, X.shape[1] == W.shape[1] else {
            throw CoreError.invalidParameter(
                "X",
                "wanda needs W [out, in] and X [tokens, in] with the same in, got \(Shape.describe(W.shape)) and \(Shape.describe(X.shape))"
            )
        }
        let cols = W.shape[1], n = X.shape[0]
        var norms = [Double](repeating: 0, count: cols)
        X.withBuffer { p in for t in 0..<n { for j in 0..<cols { let v = Double(p[t * cols + j]); norms[j] += v * v } } }
        let root = norms.map { Float($0.squareRoot()) }
        return W.storage.enumerated().map { abs($0.element) * root[$0.offset % cols] }
    }

    /// Wanda: remove the lowest ⌊sparsity · in⌋ scores of each output row.
    public static func wanda(_ W: Tensor, X: Tensor, sparsity: Double) throws -> Result {
        wanda(W, scores: try wandaScores(W, X: X), sparsity: sparsity)
    }

    /// Wanda from scores already computed by `wandaScores` (W a matrix).
    public static func wanda(_ W: Tensor, scores: [Float], sparsity: Double) -> Result {
        perRow(W, scores: scores, remove: Int((sparsity * Double(W.shape[1])).rounded(.down)))
    }
}
