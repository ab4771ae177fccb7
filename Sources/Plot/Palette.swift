import Foundation

/// matplotlib's colours: tab10 for series and categories, viridis for continuous values.
public enum Palette {
    public static let tab10: [Color] = [
        0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf,
    ].map { Color(hex: $0) }

    /// The k-th series or category colour (tab10, cycling).
    public static func category(_ k: Int) -> Color { tab10[((k % 10) + 10) % 10] }

    static let viridisTable: [UInt8] = Array(Data(base64Encoded: Assets.viridisData, options: .ignoreUnknownCharacters) ?? Data())

    /// viridis at t ∈ [0, 1] (256 entries, nearest, as matplotlib's default colour map uses them).
    public static func viridis(_ t: Double) -> Color {
        let (r, g, b) = viridisBytes(t)
        return Color(Double(r) / 255, Double(g) / 255, Double(b) / 255)
    }

    static func viridisBytes(_ t: Double) -> (UInt8, UInt8, UInt8) {
        let k = t.isNaN ? 0 : min(255, max(0, Int((t * 255).rounded())))
        return (viridisTable[3 * k], viridisTable[3 * k + 1], viridisTable[3 * k + 2])
    }
}
