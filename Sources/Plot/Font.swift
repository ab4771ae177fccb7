import Foundation

/// DejaVu Sans at one pixel size: glyph coverage bitmaps rendered by FreeType (Scripts/generate),
/// placed at whole pixels along a pen advanced in 1/64 px.
public final class Font: @unchecked Sendable {
    struct Glyph {
        let advance: Int  // 1/64 px
        let dx: Int, dy: Int  // bitmap offset from the pen on the baseline (y down)
        let w: Int, h: Int
        let coverage: [UInt8]
    }

    public let size: Int
    public let ascent: Int
    public let descent: Int
    let glyphs: [UInt32: Glyph]

    init(size: Int, ascent: Int, descent: Int, glyphs: [UInt32: Glyph]) {
        self.size = size
        self.ascent = ascent
        self.descent = descent
        self.glyphs = glyphs
    }

    /// 11 px: colour-bar and crowded labels.
    public static var small: Font { all[0] }
    /// 14 px: tick labels, axis labels, legends (matplotlib's 10 pt at 100 dpi).
    public static var normal: Font { all[1] }
    /// 17 px: titles (12 pt).
    public static var title: Font { all[2] }

    static let all: [Font] = {
        let data = Array(Data(base64Encoded: Assets.fontData, options: .ignoreUnknownCharacters) ?? Data())
        var fonts: [Font] = []
        var i = 0
        func u16() -> Int { defer { i += 2 }; return Int(data[i]) | Int(data[i + 1]) << 8 }
        func i16() -> Int { Int(Int16(bitPattern: UInt16(u16()))) }
        func u32() -> UInt32 {
            defer { i += 4 }; return UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
        }
        while i + 8 <= data.count {
            let size = u16(), ascent = u16(), descent = u16(), count = u16()
            var glyphs: [UInt32: Glyph] = [:]
            for _ in 0..<count {
                let code = u32(), advance = u16(), dx = i16(), dy = i16(), w = u16(), h = u16()
                let coverage = Array(data[i..<(i + w * h)])
                i += w * h
                glyphs[code] = Glyph(advance: advance, dx: dx, dy: dy, w: w, h: h, coverage: coverage)
            }
            fonts.append(Font(size: size, ascent: ascent, descent: descent, glyphs: glyphs))
        }
        precondition(fonts.count == 3, "the embedded font data is damaged")
        return fonts
    }()

    func glyph(_ s: Unicode.Scalar) -> Glyph? { glyphs[s.value] ?? glyphs[UInt32(("?" as Unicode.Scalar).value)] }

    /// The width of `text` in pixels.
    public func width(_ text: String) -> Double {
        Double(text.unicodeScalars.reduce(0) { $0 + (glyph($1)?.advance ?? 0) }) / 64
    }

    /// The height of a line: ascent + descent.
    public var lineHeight: Int { ascent + descent }

    /// Draws `text` with its baseline at `y` and its left edge at `x`.
    public func draw(_ text: String, x: Double, y: Double, color: Color, on canvas: Canvas) {
        var pen = Int((x * 64).rounded())
        let base = Int(y.rounded())
        for s in text.unicodeScalars {
            guard let g = glyph(s) else { continue }
            let ox = (pen + 32) / 64 + g.dx, oy = base + g.dy
            for r in 0..<g.h {
                for c in 0..<g.w {
                    let v = g.coverage[r * g.w + c]
                    if v > 0 { canvas.blend(ox + c, oy + r, color, Double(v) / 255) }
                }
            }
            pen += g.advance
        }
    }

    public enum Anchor { case start, center, end }

    /// Draws `text` anchored horizontally at `x`; `y` is the top of the line box.
    public func draw(_ text: String, x: Double, top y: Double, anchor: Anchor, color: Color, on canvas: Canvas) {
        let w = width(text)
        let left = anchor == .start ? x : anchor == .center ? x - w / 2 : x - w
        draw(text, x: left, y: y + Double(ascent), color: color, on: canvas)
    }

    /// Draws `text` rotated a quarter turn counter-clockwise (reading bottom to top), centred
    /// vertically on `y`, its line box starting at `x` on the left.
    public func drawVertical(_ text: String, x: Double, centerY y: Double, color: Color, on canvas: Canvas) {
        let w = Int(width(text).rounded(.up)) + 2, h = lineHeight
        let off = Canvas(width: w, height: h, background: .black)
        draw(text, x: 1, y: Double(ascent), color: .white, on: off)
        let x0 = Int(x.rounded()), y0 = Int((y + Double(w) / 2).rounded())
        for r in 0..<h {
            for c in 0..<w {
                let v = off.pixel(c, r).r
                // (c, r) in the text → (x0 + r, y0 − c) on the canvas.
                if v > 0 { canvas.blend(x0 + r, y0 - c, color, Double(v) / 255) }
            }
        }
    }
}
