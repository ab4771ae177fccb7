import Foundation

/// What an axes shows.
public enum Series {
    /// A polyline through (x, y); NaN points break the line.
    case line(x: [Double], y: [Double], color: Color, label: String?, width: Double, dashed: Bool, markers: Bool, right: Bool)
    /// Points, each with its own colour.
    case scatter(x: [Double], y: [Double], colors: [Color], radius: Double)
    /// Rectangles from `base` to `top` over [left, right).
    case bars(left: [Double], right: [Double], top: [Double], base: Double, color: Color, label: String?)
    /// A matrix of values mapped through viridis over [lo, hi], row 0 at the top; cell (i, j) covers
    /// x ∈ [j − ½, j + ½], y ∈ [i − ½, i + ½].
    case heat(values: [Double], rows: Int, cols: Int, lo: Double, hi: Double)
}

/// One axis: its label, scale and limits (computed from the data when nil).
public struct Axis {
    public var label: String?
    public var log = false
    public var limits: (Double, Double)?
    /// Category names at 0, 1, 2, … (bar charts) instead of numeric ticks.
    public var categories: [String]?
    /// Rows count downwards (heatmaps, like matplotlib's imshow).
    public var inverted = false
    /// Only whole-number ticks (cell indices).
    public var integer = false
    /// Ticks at exactly these values (those inside the axis range), instead of chosen ones.
    public var ticks: [Double]?
    public init() {}
}

/// A legend entry: a line sample (with a marker on it when the line marks its points), a marker
/// alone (a scatter class, a method that is one point) or a patch.
public struct LegendEntry {
    public enum Kind { case line, markedLine, marker, patch }
    public let label: String
    public let color: Color
    public let kind: Kind
    public let dashed: Bool
    public init(_ label: String, _ color: Color, _ kind: Kind, dashed: Bool = false) {
        self.label = label; self.color = color; self.kind = kind; self.dashed = dashed
    }
}

/// A single-axes figure laid out the way matplotlib lays out its defaults (640×480 at 100 dpi).
public struct Figure {
    public var width = 640
    public var height = 480
    public var title: String?
    public var x = Axis()
    public var y = Axis()
    /// A second y axis on the right (the spectrum's cumulative energy), for series with `right: true`.
    public var y2: Axis?
    public var grid = false
    public var series: [Series] = []
    public var legend: [LegendEntry] = []
    /// A colour bar for viridis-coloured values over [lo, hi].
    public var colorbar: (lo: Double, hi: Double, label: String?)?
    /// Text, lines, markers, ticks and margins grow by this factor (`plot.*(scale: 2)` for a figure
    /// twice the size that reads the same); the figure's pixel size is `width`×`height` regardless.
    public var scale = 1.0

    public init() {}

    // MARK: - Layout

    struct Frame {
        var left, top, right, bottom: Double  // the axes box in pixels
        var w: Double { right - left }
        var h: Double { bottom - top }
    }

    struct Scale {
        let lo: Double, hi: Double, log: Bool
        let p0: Double, p1: Double  // pixel positions of lo and hi
        func map(_ v: Double) -> Double {
            if log {
                guard v > 0 else { return .nan }
                return p0 + (log10(v) - log10(lo)) / (log10(hi) - log10(lo)) * (p1 - p0)
            }
            return p0 + (v - lo) / (hi - lo) * (p1 - p0)
        }
    }

    struct TickSet {
        var major: [Double] = []
        var labels: [String] = []
        var minor: [Double] = []
    }

    /// Data limits of the series along x (`axis` 0) or y (1), finite values only.
    func dataRange(_ axis: Int, log: Bool, right: Bool = false) -> (Double, Double)? {
        var lo = Double.infinity, hi = -Double.infinity
        func take(_ v: Double) {
            guard v.isFinite, !log || v > 0 else { return }
            lo = min(lo, v); hi = max(hi, v)
        }
        for s in series {
            switch s {
            case let .line(x, y, _, _, _, _, _, r):
                if axis == 0 { x.forEach(take) } else if r == right { y.forEach(take) }
            case let .scatter(x, y, _, _):
                guard !right else { continue }
                (axis == 0 ? x : y).forEach(take)
            case let .bars(l, r, t, base, _, _):
                guard !right else { continue }
                if axis == 0 { l.forEach(take); r.forEach(take) } else { t.forEach(take); take(base) }
            case let .heat(_, rows, cols, _, _):
                guard !right else { continue }
                if axis == 0 { take(-0.5); take(Double(cols) - 0.5) } else { take(-0.5); take(Double(rows) - 0.5) }
            }
        }
        return lo <= hi ? (lo, hi) : nil
    }

    var hasHeat: Bool {
        series.contains {
            if case .heat = $0 { return true }; return false
        }
    }
    var hasBars: Bool {
        series.contains {
            if case .bars = $0 { return true }; return false
        }
    }

    /// Limits with matplotlib's 5% margins (none for heatmaps; bars keep their base at the edge).
    func limits(_ axisIndex: Int, _ axis: Axis, right: Bool = false) -> (Double, Double) {
        if let l = axis.limits { return l }
        guard let range = dataRange(axisIndex, log: axis.log, right: right) else { return axis.log ? (1, 10) : (0, 1) }
        var lo = range.0
        let hi = range.1
        if hasHeat && !right { return (lo, hi) }
        if lo == hi {
            if axis.log { return (lo / 10, hi * 10) }
            let d = lo == 0 ? 1 : abs(lo) * 0.05
            return (lo - d, hi + d)
        }
        if axis.log {
            let a = log10(lo), b = log10(hi), m = (b - a) * 0.05
            return (pow(10, a - m), pow(10, b + m))
        }
        let m = (hi - lo) * 0.05
        let barsOnY = hasBars && axisIndex == 1
        if barsOnY && lo >= 0 { lo = 0; return (0, hi + m) }
        return (lo - m, hi + m)
    }

    func ticks(_ lo: Double, _ hi: Double, axis: Axis, maxCount: Int) -> TickSet {
        if let cats = axis.categories {
            var t = TickSet()
            for (i, c) in cats.enumerated() where Double(i) >= lo && Double(i) <= hi {
                t.major.append(Double(i)); t.labels.append(c)
            }
            return t
        }
        if let given = axis.ticks {
            let inside = given.filter { $0 >= lo && $0 <= hi && (!axis.log || $0 > 0) }
            return TickSet(major: inside, labels: inside.map(Ticks.label))
        }
        if axis.log {
            let l = Ticks.log(lo, hi, maxCount: maxCount)
            return TickSet(major: l.major, labels: l.labels, minor: l.minor)
        }
        var step = Ticks.niceStep(hi - lo, maxCount: maxCount)
        if axis.integer { step = max(1, step.rounded(.up)) }
        let major = Ticks.linear(lo, hi, step: step)
        return TickSet(major: major, labels: Ticks.labels(major, step: step))
    }

    /// X ticks whose labels do not overlap: fewer ticks until they fit (every k-th label for categories).
    func xTicks(_ lo: Double, _ hi: Double, scale: Scale, font: Font) -> TickSet {
        var count = max(2, Int((scale.p1 - scale.p0) / (60 * self.scale)))
        while true {
            var t = ticks(lo, hi, axis: x, maxCount: count)
            if x.categories != nil {
                // Thin category labels to every k-th when they collide.
                let widest = t.labels.map { font.width($0) }.max() ?? 0
                let spacing = t.major.count > 1 ? abs(scale.map(1) - scale.map(0)) : .infinity
                let k = max(1, Int(((widest + 8 * self.scale) / spacing).rounded(.up)))
                if k > 1 {
                    t.labels = t.labels.enumerated().map { $0.offset % k == 0 ? $0.element : "" }
                }
                return t
            }
            var lastRight = -Double.infinity
            var overlap = false
            for (v, s) in zip(t.major, t.labels) {
                let c = scale.map(v), w = font.width(s)
                if c - w / 2 < lastRight + 8 * self.scale { overlap = true; break }
                lastRight = c + w / 2
            }
            if !overlap || count <= 2 { return t }
            count -= 1
        }
    }

    func yTicks(_ lo: Double, _ hi: Double, axis: Axis, length: Double, font: Font) -> TickSet {
        let count = max(2, Int(length / (Double(font.lineHeight) * 2.2)))
        return ticks(lo, hi, axis: axis, maxCount: min(count, 10))
    }

    // MARK: - Rendering

    /// Draws the figure.
    public func render() -> Canvas { render(legendOutside: false) }

    /// `legendOutside`: the legend covers data wherever it goes inside the axes, so it stands to
    /// their right, the axes narrowed to make room.
    func render(legendOutside: Bool) -> Canvas {
        let canvas = Canvas(width: width, height: height)
        let font = Font.normal(scale: scale), small = Font.small(scale: scale), titleFont = Font.title(scale: scale)
        let u = scale, line = max(1, scale.rounded())  // a length unit and the width of a hairline
        let W = Double(width), H = Double(height)
        let (xlo, xhi) = limits(0, x)
        var (ylo, yhi) = limits(1, y)
        if y.inverted { swap(&ylo, &yhi) }

        // First pass: y tick labels decide the left margin; colour bar and right axis the right one.
        let roughH = H * 0.77
        let yt0 = yTicks(min(ylo, yhi), max(ylo, yhi), axis: y, length: roughH, font: font)
        let yLabelW = yt0.labels.map { font.width($0) }.max() ?? 0
        var left = max(W * 0.125, yLabelW + 15 * u + (y.label != nil ? Double(font.lineHeight) + 6 * u : 0))
        var right = W * 0.1
        var y2Range: (Double, Double)?
        if let a2 = y2 {
            let r = limits(1, a2, right: true)
            y2Range = r
            let t2 = yTicks(r.0, r.1, axis: a2, length: roughH, font: font)
            let w2 = t2.labels.map { font.width($0) }.max() ?? 0
            right = max(right, w2 + 15 * u + (a2.label != nil ? Double(font.lineHeight) + 6 * u : 0))
        }
        if let cb = colorbar {
            let t = ticks(cb.lo, cb.hi, axis: Axis(), maxCount: 6)
            let w = t.labels.map { small.width($0) }.max() ?? 0
            right = max(right, 48 * u + w + (cb.label != nil ? Double(small.lineHeight) + 6 * u : 0))
        }
        // Outside, the legend takes the place of the empty right margin (beyond a right axis or colour bar).
        if legendOutside { right = (y2 == nil && colorbar == nil ? 8 * u : right) + legendSize().w + 8 * u }
        let top = max(H * 0.08, title != nil ? Double(titleFont.lineHeight) + 16 * u : 12 * u)
        let bottom = max(H * 0.11, 17 * u + Double(font.lineHeight) + (x.label != nil ? Double(font.lineHeight) + 8 * u : 0))
        left = left.rounded()
        let frame = Frame(left: left, top: top.rounded(), right: (W - right).rounded(), bottom: (H - bottom).rounded())
        guard frame.w > 10, frame.h > 10 else { return canvas }

        let xs = Scale(lo: xlo, hi: xhi, log: x.log, p0: frame.left, p1: frame.right)
        let ys = Scale(lo: ylo, hi: yhi, log: y.log, p0: frame.bottom, p1: frame.top)
        var y2s: Scale?
        if let r = y2Range, let a2 = y2 { y2s = Scale(lo: r.0, hi: r.1, log: a2.log, p0: frame.bottom, p1: frame.top) }
        var legendAt: (x: Double, y: Double)?
        if !legend.isEmpty {
            if legendOutside {
                legendAt = (W - legendSize().w - 8 * u, frame.top)
            } else {
                let place = legendPlace(frame, xs, ys, y2s)
                // Outside only while the axes keep at least a third of the figure's width.
                if !place.free && frame.w - legendSize().w - 8 * u >= W / 3 { return render(legendOutside: true) }
                legendAt = (place.x, place.y)
            }
        }
        let xt = xTicks(xlo, xhi, scale: xs, font: font)
        let yt = yTicks(min(ylo, yhi), max(ylo, yhi), axis: y, length: frame.h, font: font)

        // Grid behind the data.
        if grid {
            for v in xt.major {
                let p = xs.map(v).rounded(.down); if p.isFinite { canvas.fillRect(p, frame.top, p + line, frame.bottom, Color.grid) }
            }
            for v in yt.major {
                let p = ys.map(v).rounded(.down); if p.isFinite { canvas.fillRect(frame.left, p, frame.right, p + line, Color.grid) }
            }
        }

        // Data, clipped to the axes box.
        canvas.clip = (Int(frame.left), Int(frame.top), Int(frame.right), Int(frame.bottom))
        for s in series { draw(s, canvas, xs, ys, y2s) }
        canvas.clip = nil

        // Spines, ticks and tick labels.
        let ink = Color.ink
        // Spines and ticks are whole pixels (crisp): the spine rows/columns are the box edges, a tick
        // is the pixel column (row) that contains its position.
        canvas.fillRect(frame.left, frame.top, frame.right + line, frame.top + line, ink)
        canvas.fillRect(frame.left, frame.bottom, frame.right + line, frame.bottom + line, ink)
        canvas.fillRect(frame.left, frame.top, frame.left + line, frame.bottom + line, ink)
        canvas.fillRect(frame.right, frame.top, frame.right + line, frame.bottom + line, ink)
        let major = (5 * u).rounded(), minor = (3 * u).rounded(), gap = (4 * u).rounded()  // tick lengths, tick-to-label gap
        for (v, s) in zip(xt.major, xt.labels) {
            let p = xs.map(v)
            guard p.isFinite, p >= frame.left - 0.5, p <= frame.right + 0.5 else { continue }
            let col = min(frame.right, p.rounded(.down))
            canvas.fillRect(col, frame.bottom + line, col + line, frame.bottom + line + major, ink)
            font.draw(s, x: p, top: frame.bottom + major + gap - line, anchor: .center, color: ink, on: canvas)
        }
        for v in xt.minor {
            let p = xs.map(v)
            if p.isFinite && p > frame.left && p < frame.right {
                canvas.fillRect(p.rounded(.down), frame.bottom + line, p.rounded(.down) + line, frame.bottom + line + minor, ink)
            }
        }
        for (v, s) in zip(yt.major, yt.labels) {
            let p = ys.map(v)
            guard p.isFinite, p >= frame.top - 0.5, p <= frame.bottom + 0.5 else { continue }
            let row = min(frame.bottom, p.rounded(.down))
            canvas.fillRect(frame.left - major, row, frame.left, row + line, ink)
            font.draw(s, x: frame.left - major - gap, top: p - Double(font.lineHeight) / 2, anchor: .end, color: ink, on: canvas)
        }
        for v in yt.minor {
            let p = ys.map(v)
            if p.isFinite && p > frame.top && p < frame.bottom {
                canvas.fillRect(frame.left - minor, p.rounded(.down), frame.left, p.rounded(.down) + line, ink)
            }
        }
        if let y2s, let a2 = y2 {
            let t2 = yTicks(y2s.lo, y2s.hi, axis: a2, length: frame.h, font: font)
            var widest = 0.0
            for (v, s) in zip(t2.major, t2.labels) {
                let p = y2s.map(v)
                let row = min(frame.bottom, p.rounded(.down))
                canvas.fillRect(frame.right + line, row, frame.right + line + major, row + line, ink)
                font.draw(s, x: frame.right + major + gap, top: p - Double(font.lineHeight) / 2, anchor: .start, color: ink, on: canvas)
                widest = max(widest, font.width(s))
            }
            if let l = a2.label {
                font.drawVertical(
                    l, x: frame.right + major + gap + widest + 6 * u, centerY: (frame.top + frame.bottom) / 2, color: ink, on: canvas)
            }
        }

        // Title and axis labels.
        if let t = title {
            // Centred over the axes, moved in when that would cut it at the figure's edge.
            let half = titleFont.width(t) / 2 + 4 * u
            let centre = min(max((frame.left + frame.right) / 2, half), W - half)
            titleFont.draw(
                t, x: centre, top: frame.top - 8 * u - Double(titleFont.lineHeight), anchor: .center, color: ink,
                on: canvas)
        }
        if let l = x.label {
            let top = frame.bottom + major + gap - line + Double(font.lineHeight) + gap
            font.draw(l, x: (frame.left + frame.right) / 2, top: top, anchor: .center, color: ink, on: canvas)
        }
        if let l = y.label {
            let widest = yt.labels.map { font.width($0) }.max() ?? 0
            font.drawVertical(
                l, x: max(2, frame.left - major - gap - widest - 6 * u - Double(font.lineHeight)), centerY: (frame.top + frame.bottom) / 2,
                color: ink, on: canvas)
        }
        if let cb = colorbar { drawColorbar(cb, canvas, frame) }
        if let at = legendAt { drawLegend(canvas, at: at.x, at.y) }
        return canvas
    }

    func draw(_ s: Series, _ canvas: Canvas, _ xs: Scale, _ ys: Scale, _ y2s: Scale?) {
        switch s {
        case let .line(x, y, color, _, width, dashed, markers, right):
            let yScale = right ? (y2s ?? ys) : ys, u = scale
            var run: [(Double, Double)] = []
            func flush() {
                canvas.polyline(run, width: width * u, color, dashed: dashed)
                // A lone point has no line to show it: it is always marked.
                if markers || run.count == 1 { for p in run { canvas.disc(p.0, p.1, radius: 3 * u, color) } }
                run = []
            }
            for (a, b) in zip(x, y) {
                let px = xs.map(a), py = yScale.map(b)
                if px.isFinite && py.isFinite { run.append((px, py)) } else if !run.isEmpty { flush() }
            }
            if !run.isEmpty { flush() }
        case let .scatter(x, y, colors, radius):
            for i in 0..<min(x.count, y.count) {
                let px = xs.map(x[i]), py = ys.map(y[i])
                if px.isFinite && py.isFinite { canvas.disc(px, py, radius: radius * scale, colors[i % max(1, colors.count)]) }
            }
        case let .bars(l, r, t, base, color, _):
            for i in 0..<min(l.count, r.count, t.count) {
                let x0 = xs.map(l[i]), x1 = xs.map(r[i])
                let b = ys.log && base <= 0 ? ys.p0 : ys.map(base)
                let y1 = ys.map(t[i])
                guard x0.isFinite, x1.isFinite, y1.isFinite, b.isFinite else { continue }
                canvas.fillRect(x0, min(b, y1), x1, max(b, y1), color)
            }
        case let .heat(values, rows, cols, lo, hi):
            // Each cell is an exact pixel rectangle (edges rounded), filled without blending.
            let span = hi > lo ? hi - lo : 1
            for i in 0..<rows {
                let ya = ys.map(Double(i) - 0.5).rounded(), yb = ys.map(Double(i) + 0.5).rounded()
                for j in 0..<cols {
                    let xa = xs.map(Double(j) - 0.5).rounded(), xb = xs.map(Double(j) + 0.5).rounded()
                    let v = values[i * cols + j]
                    let (r, g, b) = v.isNaN ? (255, 255, 255) : Palette.viridisBytes((v - lo) / span)
                    for py in Int(min(ya, yb))..<Int(max(ya, yb)) {
                        for px in Int(min(xa, xb))..<Int(max(xa, xb)) where canvas.inClip(px, py) { canvas.set(px, py, r, g, b) }
                    }
                }
            }
        }
    }

    func drawColorbar(_ cb: (lo: Double, hi: Double, label: String?), _ canvas: Canvas, _ frame: Frame) {
        let small = Font.small(scale: scale), u = scale, line = max(1, scale.rounded())
        let x0 = frame.right + (14 * u).rounded(), x1 = x0 + (16 * u).rounded()
        let top = frame.top, bottom = frame.bottom
        for py in Int(top)..<Int(bottom) {
            let t = (bottom - Double(py) - 0.5) / (bottom - top)
            let (r, g, b) = Palette.viridisBytes(t)
            for px in Int(x0)..<Int(x1) { canvas.set(px, py, r, g, b) }
        }
        let ink = Color.ink
        canvas.fillRect(x0, top, x1 + line, top + line, ink)
        canvas.fillRect(x0, bottom, x1 + line, bottom + line, ink)
        canvas.fillRect(x0, top, x0 + line, bottom + line, ink)
        canvas.fillRect(x1, top, x1 + line, bottom + line, ink)
        let span = cb.hi > cb.lo ? cb.hi - cb.lo : 1
        let t = ticks(cb.lo, cb.hi, axis: Axis(), maxCount: 6)
        var widest = 0.0
        for (v, s) in zip(t.major, t.labels) {
            let p = bottom - (v - cb.lo) / span * (bottom - top)
            canvas.fillRect(x1 + line, p.rounded(.down), x1 + line + (4 * u).rounded(), p.rounded(.down) + line, ink)
            small.draw(s, x: x1 + 7 * u, top: p - Double(small.lineHeight) / 2, anchor: .start, color: ink, on: canvas)
            widest = max(widest, small.width(s))
        }
        if let l = cb.label {
            small.drawVertical(l, x: x1 + 7 * u + widest + 6 * u, centerY: (top + bottom) / 2, color: ink, on: canvas)
        }
    }

    /// The legend's size in pixels.
    func legendSize() -> (w: Double, h: Double) {
        let font = Font.normal(scale: scale), u = scale
        let w = (legend.map { font.width($0.label) }.max() ?? 0) + 50 * u
        return (w, (Double(font.lineHeight) + 4 * u) * Double(legend.count) + 8 * u)
    }

    /// Where the legend goes inside the axes: the first of the four corners (upper right first),
    /// then the middles of the edges, that covers no data point (markers and line segments
    /// included), as matplotlib's "best" does. `free` is false when every place covers some; the
    /// place returned then covers the fewest.
    func legendPlace(_ frame: Frame, _ xs: Scale, _ ys: Scale, _ y2s: Scale?) -> (x: Double, y: Double, free: Bool) {
        let (w, h) = legendSize()
        let pad = 8 * scale
        let corners: [(Double, Double)] = [
            (frame.right - pad - w, frame.top + pad), (frame.left + pad, frame.top + pad),
            (frame.left + pad, frame.bottom - pad - h), (frame.right - pad - w, frame.bottom - pad - h),
            ((frame.left + frame.right - w) / 2, frame.top + pad), ((frame.left + frame.right - w) / 2, frame.bottom - pad - h),
            (frame.right - pad - w, (frame.top + frame.bottom - h) / 2), (frame.left + pad, (frame.top + frame.bottom - h) / 2),
        ]
        var points: [(Double, Double)] = []
        var reach = 4 * scale  // how far from a point the box must stay
        for s in series {
            switch s {
            case let .line(x, y, _, _, width, _, markers, right):
                let scale = right ? (y2s ?? ys) : ys
                reach = max(reach, (markers ? 3 * self.scale : width * self.scale / 2) + 2 * self.scale)
                // Sample along each segment too, so a line crossing a corner counts.
                for i in 0..<min(x.count, y.count) {
                    // A NaN point (a break in the line, or outside a log axis) is not drawn.
                    let a = (xs.map(x[i]), scale.map(y[i]))
                    guard a.0.isFinite && a.1.isFinite else { continue }
                    points.append(a)
                    if i + 1 < min(x.count, y.count) {
                        let b = (xs.map(x[i + 1]), scale.map(y[i + 1]))
                        guard b.0.isFinite && b.1.isFinite else { continue }
                        let steps = max(8, Int((abs(b.0 - a.0) + abs(b.1 - a.1)) / (4 * self.scale)))
                        for k in 1..<steps {
                            let t = Double(k) / Double(steps)
                            points.append((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)))
                        }
                    }
                }
            case let .scatter(x, y, _, radius):
                reach = max(reach, radius * self.scale + 2 * self.scale)
                let stride = max(1, x.count / 2000)
                for i in Swift.stride(from: 0, to: min(x.count, y.count), by: stride) { points.append((xs.map(x[i]), ys.map(y[i]))) }
            case let .bars(l, r, t, _, _, _):
                for i in 0..<min(l.count, t.count) {
                    let cx = (xs.map(l[i]) + xs.map(r[i])) / 2
                    let top = ys.map(t[i])
                    // A bar covers everything below its top.
                    for k in 0..<5 { points.append((cx, top + (frame.bottom - top) * Double(k) / 4)) }
                }
            case .heat: break
            }
        }
        var best = 0, bestCount = Int.max
        for (k, c) in corners.enumerated() {
            let n = points.filter { $0.0 >= c.0 - reach && $0.0 <= c.0 + w + reach && $0.1 >= c.1 - reach && $0.1 <= c.1 + h + reach }.count
            if n < bestCount { best = k; bestCount = n }
            if n == 0 { break }
        }
        return (corners[best].0, corners[best].1, bestCount == 0)
    }

    func drawLegend(_ canvas: Canvas, at lx: Double, _ ly: Double) {
        let font = Font.normal(scale: scale), u = scale, line = max(1, scale.rounded())
        let rowH = Double(font.lineHeight) + 4 * u
        let sample = 28 * u
        let (w, h) = legendSize()
        canvas.fillRect(lx, ly, lx + w, ly + h, Color.white.with(alpha: 0.8))
        let edge = Color(hex: 0xcccccc)
        canvas.fillRect(lx, ly, lx + w, ly + line, edge)
        canvas.fillRect(lx, ly + h - line, lx + w, ly + h, edge)
        canvas.fillRect(lx, ly, lx + line, ly + h, edge)
        canvas.fillRect(lx + w - line, ly, lx + w, ly + h, edge)
        for (i, e) in legend.enumerated() {
            let cy = ly + 4 * u + rowH * Double(i) + rowH / 2
            let sx = lx + 8 * u
            switch e.kind {
            case .line: canvas.polyline([(sx, cy), (sx + sample, cy)], width: 2 * u, e.color, dashed: e.dashed)
            case .markedLine:
                canvas.polyline([(sx, cy), (sx + sample, cy)], width: 2 * u, e.color, dashed: e.dashed)
                canvas.disc(sx + sample / 2, cy, radius: 3 * u, e.color)
            case .marker: canvas.disc(sx + sample / 2, cy, radius: 4 * u, e.color)
            case .patch: canvas.fillRect(sx + 4 * u, cy - 5 * u, sx + sample - 4 * u, cy + 5 * u, e.color)
            }
            font.draw(e.label, x: sx + sample + 8 * u, top: cy - Double(font.lineHeight) / 2, anchor: .start, color: .ink, on: canvas)
        }
    }
}
