import Foundation

/// A colour with straight (non-premultiplied) alpha, channels in [0, 1].
public struct Color: Equatable, Sendable {
    public var r, g, b, a: Double

    public init(_ r: Double, _ g: Double, _ b: Double, _ a: Double = 1) {
        self.r = r; self.g = g; self.b = b; self.a = a
    }

    /// `0x1f77b4`.
    public init(hex: UInt32, alpha: Double = 1) {
        self.init(Double((hex >> 16) & 0xff) / 255, Double((hex >> 8) & 0xff) / 255, Double(hex & 0xff) / 255, alpha)
    }

    public func with(alpha: Double) -> Color { Color(r, g, b, alpha) }

    public static let white = Color(1, 1, 1)
    public static let black = Color(0, 0, 0)
    /// matplotlib's text and spine colour.
    public static let ink = Color(hex: 0x000000)
    public static let grid = Color(hex: 0xb0b0b0)
}

/// An RGB raster on a white background, drawn with anti-aliased coverage and source-over blending.
/// Every operation is a pure function of its inputs, so the same drawing gives the same bytes.
public final class Canvas {
    public let width: Int
    public let height: Int
    /// RGB bytes, row-major, top row first.
    public private(set) var pixels: [UInt8]
    /// Drawing is limited to x ∈ [x0, x1), y ∈ [y0, y1) when set (the axes box).
    public var clip: (x0: Int, y0: Int, x1: Int, y1: Int)?

    public init(width: Int, height: Int, background: Color = .white) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
        if background != .white { fillRect(0, 0, Double(width), Double(height), background) }
    }

    /// The colour at a pixel (for tests).
    public func pixel(_ x: Int, _ y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Blends `color` into one pixel with `coverage` ∈ [0, 1].
    @inline(__always)
    func inClip(_ x: Int, _ y: Int) -> Bool {
        guard x >= 0, y >= 0, x < width, y < height else { return false }
        if let c = clip { return x >= c.x0 && x < c.x1 && y >= c.y0 && y < c.y1 }
        return true
    }

    @inline(__always)
    func blend(_ x: Int, _ y: Int, _ color: Color, _ coverage: Double) {
        guard inClip(x, y) else { return }
        let a = color.a * min(1, max(0, coverage))
        guard a > 0 else { return }
        let i = (y * width + x) * 3
        pixels.withUnsafeMutableBufferPointer { p in
            p[i] = UInt8(((Double(p[i]) * (1 - a) + color.r * 255 * a)).rounded())
            p[i + 1] = UInt8(((Double(p[i + 1]) * (1 - a) + color.g * 255 * a)).rounded())
            p[i + 2] = UInt8(((Double(p[i + 2]) * (1 - a) + color.b * 255 * a)).rounded())
        }
    }

    /// Sets a pixel outright (images, heatmap cells).
    @inline(__always)
    func set(_ x: Int, _ y: Int, _ r: UInt8, _ g: UInt8, _ b: UInt8) {
        guard inClip(x, y) else { return }
        let i = (y * width + x) * 3
        pixels[i] = r; pixels[i + 1] = g; pixels[i + 2] = b
    }

    // MARK: - Shapes

    /// A rectangle in pixel coordinates (edges may be fractional: partial pixels get partial cover).
    public func fillRect(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ color: Color) {
        let lx = max(0, min(x0, x1)), hx = min(Double(width), max(x0, x1))
        let ly = max(0, min(y0, y1)), hy = min(Double(height), max(y0, y1))
        guard lx < hx, ly < hy else { return }
        for y in Int(ly.rounded(.down))..<Int(hy.rounded(.up)) {
            let cy = min(hy, Double(y + 1)) - max(ly, Double(y))
            for x in Int(lx.rounded(.down))..<Int(hx.rounded(.up)) {
                let cx = min(hx, Double(x + 1)) - max(lx, Double(x))
                blend(x, y, color, cx * cy)
            }
        }
    }

    /// A filled disc (anti-aliased edge).
    public func disc(_ cx: Double, _ cy: Double, radius r: Double, _ color: Color) {
        let x0 = max(0, Int((cx - r - 1).rounded(.down))), x1 = min(width - 1, Int((cx + r + 1).rounded(.up)))
        let y0 = max(0, Int((cy - r - 1).rounded(.down))), y1 = min(height - 1, Int((cy + r + 1).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return }
        for y in y0...y1 {
            let dy = Double(y) + 0.5 - cy
            for x in x0...x1 {
                let dx = Double(x) + 0.5 - cx
                let d = (dx * dx + dy * dy).squareRoot()
                let c = r + 0.5 - d
                if c > 0 { blend(x, y, color, c) }
            }
        }
    }

    /// A polyline of width `w`: coverage is the distance to the nearest segment, taken once per
    /// pixel (so joints and translucent lines are not drawn twice).
    public func polyline(_ points: [(Double, Double)], width w: Double, _ color: Color, dashed: Bool = false) {
        guard points.count >= 2 else {
            if let p = points.first { disc(p.0, p.1, radius: w / 2, color) }
            return
        }
        var minX = Double.infinity, maxX = -Double.infinity, minY = Double.infinity, maxY = -Double.infinity
        for p in points {
            minX = min(minX, p.0); maxX = max(maxX, p.0); minY = min(minY, p.1); maxY = max(maxY, p.1)
        }
        let pad = w / 2 + 1.5
        let bx0 = max(0, Int((minX - pad).rounded(.down))), bx1 = min(width - 1, Int((maxX + pad).rounded(.up)))
        let by0 = max(0, Int((minY - pad).rounded(.down))), by1 = min(height - 1, Int((maxY + pad).rounded(.up)))
        guard bx0 <= bx1, by0 <= by1 else { return }
        let bw = bx1 - bx0 + 1
        var mask = [Float](repeating: 0, count: bw * (by1 - by0 + 1))
        var along = 0.0  // arc length at the segment's start, for dashes
        for k in 0..<(points.count - 1) {
            let (ax, ay) = points[k], (qx, qy) = points[k + 1]
            let dx = qx - ax, dy = qy - ay
            let len2 = dx * dx + dy * dy
            let len = len2.squareRoot()
            let sx0 = max(bx0, Int((min(ax, qx) - pad).rounded(.down))), sx1 = min(bx1, Int((max(ax, qx) + pad).rounded(.up)))
            let sy0 = max(by0, Int((min(ay, qy) - pad).rounded(.down))), sy1 = min(by1, Int((max(ay, qy) + pad).rounded(.up)))
            if sx0 <= sx1 && sy0 <= sy1 {
                for y in sy0...sy1 {
                    let py = Double(y) + 0.5
                    for x in sx0...sx1 {
                        let px = Double(x) + 0.5
                        var t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0
                        t = min(1, max(0, t))
                        if dashed {
                            // 3.7 px on, 1.6 px off per px of width (matplotlib's "--" at 1.5 pt).
                            let s = (along + t * len) / max(w, 1)
                            if s.truncatingRemainder(dividingBy: 5.3) > 3.7 { continue }
                        }
                        let ex = ax + t * dx - px, ey = ay + t * dy - py
                        let d = (ex * ex + ey * ey).squareRoot()
                        let c = Float(min(1, max(0, w / 2 + 0.5 - d)))
                        let i = (y - by0) * bw + (x - bx0)
                        if c > mask[i] { mask[i] = c }
                    }
                }
            }
            along += len
        }
        for y in by0...by1 {
            for x in bx0...bx1 {
                let c = mask[(y - by0) * bw + (x - bx0)]
                if c > 0 { blend(x, y, color, Double(c)) }
            }
        }
    }

    /// A filled polygon (even-odd), anti-aliased by 4 sub-scanlines per row with exact horizontal cover.
    public func fillPolygon(_ points: [(Double, Double)], _ color: Color) {
        guard points.count >= 3 else { return }
        let ys = points.map(\.1)
        let y0 = max(0, Int((ys.min() ?? 0).rounded(.down))), y1 = min(height - 1, Int((ys.max() ?? 0).rounded(.up)))
        guard y0 <= y1 else { return }
        let sub = 4
        var row = [Double](repeating: 0, count: width + 1)
        for y in y0...y1 {
            for i in row.indices { row[i] = 0 }
            var touched = false
            for s in 0..<sub {
                let sy = Double(y) + (Double(s) + 0.5) / Double(sub)
                var xs: [Double] = []
                for k in 0..<points.count {
                    let (ax, ay) = points[k], (bx, by) = points[(k + 1) % points.count]
                    if (ay <= sy && by > sy) || (by <= sy && ay > sy) {
                        xs.append(ax + (sy - ay) / (by - ay) * (bx - ax))
                    }
                }
                xs.sort()
                var k = 0
                while k + 1 < xs.count {
                    let l = max(0, xs[k]), r = min(Double(width), xs[k + 1])
                    if l < r {
                        touched = true
                        let li = Int(l), ri = Int(r)
                        if li == ri {
                            row[li] += (r - l) / Double(sub)
                        } else {
                            row[li] += (Double(li + 1) - l) / Double(sub)
                            if li + 1 < ri { for x in (li + 1)..<ri { row[x] += 1 / Double(sub) } }
                            if ri < width { row[ri] += (r - Double(ri)) / Double(sub) }
                        }
                    }
                    k += 2
                }
            }
            if touched { for x in 0..<width where row[x] > 0 { blend(x, y, color, row[x]) } }
        }
    }
}
