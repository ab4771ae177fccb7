import CZlib
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
    public static var small: Font { small(scale: 1) }
    /// 14 px: tick labels, axis labels, legends (matplotlib's 10 pt at 100 dpi).
    public static var normal: Font { normal(scale: 1) }
    /// 17 px: titles (12 pt).
    public static var title: Font { title(scale: 1) }

    /// The three faces of a figure drawn at `scale` (`plot.*(scale:)`): the embedded size nearest
    /// to 11, 14 and 17 px times the scale (sizes are embedded for scales 1, 1.5, 2, 2.5 and 3).
    public static func small(scale: Double) -> Font { nearest(11 * scale) }
    public static func normal(scale: Double) -> Font { nearest(14 * scale) }
    public static func title(scale: Double) -> Font { nearest(17 * scale) }

    static func nearest(_ px: Double) -> Font {
        let size = Library.shared.sizes.min { abs(Double($0) - px) < abs(Double($1) - px) } ?? 14
        return Library.shared.font(size)
    }

    /// The embedded faces: inflated once, each size parsed when first asked for.
    final class Library: @unchecked Sendable {
        static let shared = Library()
        let data: [UInt8]
        let offsets: [Int: Int]  // size → where its record starts
        var sizes: [Int] { offsets.keys.sorted() }
        let lock = NSLock()
        var parsed: [Int: Font] = [:]

        init() {
            let packed = Array(Data(base64Encoded: Assets.fontData, options: .ignoreUnknownCharacters) ?? Data())
            let data = Library.inflate(packed, capacity: 1 << 21)
            self.data = data
            var offsets: [Int: Int] = [:], i = 0
            func u16(_ at: Int) -> Int { Int(data[at]) | Int(data[at + 1]) << 8 }
            while i + 8 <= data.count {
                offsets[u16(i)] = i
                let count = u16(i + 6)
                i += 8
                for _ in 0..<count where i + 14 <= data.count { i += 14 + u16(i + 10) * u16(i + 12) }
            }
            precondition([11, 14, 17].allSatisfy { offsets[$0] != nil }, "the embedded font data is damaged")
            self.offsets = offsets
        }

        static func inflate(_ packed: [UInt8], capacity: Int) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: capacity)
            var length = uLongf(capacity)
            let rc = out.withUnsafeMutableBufferPointer { o in
                packed.withUnsafeBufferPointer { uncompress(o.baseAddress, &length, $0.baseAddress, uLong($0.count)) }
            }
            precondition(rc == Z_OK, "the embedded font data is damaged (zlib \(rc))")
            return Array(out.prefix(Int(length)))
        }

        func font(_ size: Int) -> Font {
            lock.lock()
            defer { lock.unlock() }
            if let f = parsed[size] { return f }
            var i = offsets[size] ?? offsets[14] ?? 0
            func u16() -> Int { defer { i += 2 }; return Int(data[i]) | Int(data[i + 1]) << 8 }
            func i16() -> Int { Int(Int16(bitPattern: UInt16(u16()))) }
            func u32() -> UInt32 {
                defer { i += 4 }; return UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
            }
            let size = u16(), ascent = u16(), descent = u16(), count = u16()
            var glyphs: [UInt32: Glyph] = [:]
            for _ in 0..<count {
                let code = u32(), advance = u16(), dx = i16(), dy = i16(), w = u16(), h = u16()
                glyphs[code] = Glyph(advance: advance, dx: dx, dy: dy, w: w, h: h, coverage: Array(data[i..<(i + w * h)]))
                i += w * h
            }
            let f = Font(size: size, ascent: ascent, descent: descent, glyphs: glyphs)
            parsed[size] = f
            return f
        }
    }

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
