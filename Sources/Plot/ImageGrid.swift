import Foundation

/// A grid of small images (reconstructions, codebook entries): each scaled by the same whole factor
/// with nearest-neighbour sampling, so pixels stay square and sharp.
public struct ImageGrid {
    /// Images of `h × w × channels` (1 grey, 3 RGB) values in [0, 1], row-major.
    public var images: [[Double]]
    public var h: Int
    public var w: Int
    public var channels: Int
    public var cols: Int
    public var labels: [String]?
    public var title: String?
    public var width = 640
    public var height = 480
    /// Text and gaps grow by this factor (`plot.images(scale:)`).
    public var scale = 1.0

    public init(images: [[Double]], h: Int, w: Int, channels: Int, cols: Int) {
        self.images = images
        self.h = h
        self.w = w
        self.channels = channels
        self.cols = max(1, cols)
    }

    /// The cell layout: origin of image k and the integer scale.
    public func layout() -> (scale: Int, origin: (Int) -> (x: Int, y: Int)) {
        let rows = max(1, (images.count + cols - 1) / cols)
        let u = self.scale
        let gap = Int((8 * u).rounded())
        let titleH = title != nil ? Font.title(scale: u).lineHeight + Int((12 * u).rounded()) : gap
        let labelH = labels != nil ? Font.small(scale: u).lineHeight + Int((2 * u).rounded()) : 0
        let availW = width - 16 - gap * (cols - 1), availH = height - titleH - 8 - gap * (rows - 1) - labelH * rows
        let scale = max(1, min(availW / max(1, cols * w), availH / max(1, rows * h)))
        let gridW = cols * w * scale + gap * (cols - 1)
        let gridH = rows * (h * scale + labelH) + gap * (rows - 1)
        let x0 = (width - gridW) / 2, y0 = titleH + max(0, (height - titleH - 8 - gridH) / 2)
        return (scale, { k in (x0 + (k % cols) * (w * scale + gap), y0 + (k / cols) * (h * scale + labelH + gap) + labelH) })
    }

    public func render() -> Canvas {
        let canvas = Canvas(width: width, height: height)
        if let t = title {
            Font.title(scale: scale).draw(t, x: Double(width) / 2, top: 6 * scale, anchor: .center, color: .ink, on: canvas)
        }
        let (zoom, origin) = layout()
        let small = Font.small(scale: scale)
        for (k, img) in images.enumerated() {
            let (ox, oy) = origin(k)
            if let labels, k < labels.count {
                small.draw(
                    labels[k], x: Double(ox) + Double(w * zoom) / 2, top: Double(oy - small.lineHeight) - scale,
                    anchor: .center, color: .ink, on: canvas)
            }
            for i in 0..<h {
                for j in 0..<w {
                    let base = (i * w + j) * channels
                    func byte(_ v: Double) -> UInt8 { v.isNaN ? 0 : UInt8((min(1, max(0, v)) * 255).rounded()) }
                    let r = byte(img[base]), g = channels == 3 ? byte(img[base + 1]) : r, b = channels == 3 ? byte(img[base + 2]) : r
                    for dy in 0..<zoom {
                        for dx in 0..<zoom { canvas.set(ox + j * zoom + dx, oy + i * zoom + dy, r, g, b) }
                    }
                }
            }
        }
        return canvas
    }
}
