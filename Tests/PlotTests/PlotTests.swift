import Datasets
import Foundation
import Testing
@testable import Plot

/// RGB of a tab10 entry, as matplotlib defines it.
let tabBlue: (UInt8, UInt8, UInt8) = (0x1f, 0x77, 0xb4)
let tabOrange: (UInt8, UInt8, UInt8) = (0xff, 0x7f, 0x0e)

func count(_ c: Canvas, _ rgb: (UInt8, UInt8, UInt8), tolerance: Int = 0, in box: (Int, Int, Int, Int)? = nil) -> Int {
    let (x0, y0, x1, y1) = box ?? (0, 0, c.width, c.height)
    var n = 0
    for y in y0..<y1 {
        for x in x0..<x1 {
            let p = c.pixel(x, y)
            if abs(Int(p.r) - Int(rgb.0)) <= tolerance && abs(Int(p.g) - Int(rgb.1)) <= tolerance && abs(Int(p.b) - Int(rgb.2)) <= tolerance { n += 1 }
        }
    }
    return n
}

func isWhite(_ p: (r: UInt8, g: UInt8, b: UInt8)) -> Bool { p.r == 255 && p.g == 255 && p.b == 255 }

@Suite struct CanvasTests {
    @Test func rectanglesCoverWholeAndPartialPixels() {
        let c = Canvas(width: 10, height: 10)
        c.fillRect(2, 2, 4, 4, .black)
        #expect(c.pixel(2, 2) == (0, 0, 0) && c.pixel(3, 3) == (0, 0, 0))
        #expect(isWhite(c.pixel(4, 4)) && isWhite(c.pixel(1, 2)))
        c.fillRect(6, 6, 6.5, 7, .black)   // half a pixel: 50% grey
        #expect(c.pixel(6, 6) == (128, 128, 128))
    }

    @Test func alphaBlendsSourceOver() {
        let c = Canvas(width: 2, height: 1)
        c.fillRect(0, 0, 1, 1, Color(1, 0, 0, 0.5))
        // 255·(1 − 0.5) + 255·0.5 for red; 255·0.5 for green and blue.
        #expect(c.pixel(0, 0) == (255, 128, 128))
    }

    @Test func discsAreCentredAndAntiAliased() {
        let c = Canvas(width: 21, height: 21)
        c.disc(10.5, 10.5, radius: 4, .black)
        #expect(c.pixel(10, 10) == (0, 0, 0))
        #expect(isWhite(c.pixel(10, 4)) && isWhite(c.pixel(16, 10)))
        // Symmetric about the centre.
        for d in 0...6 { #expect(c.pixel(10 - d, 10) == c.pixel(10 + d, 10) && c.pixel(10, 10 - d) == c.pixel(10, 10 + d)) }
        // The edge is partial cover: some grey levels strictly between black and white.
        #expect((0..<21).contains { x in let p = c.pixel(x, 10); return p.r > 0 && p.r < 255 })
    }

    @Test func polylinesDrawEachPixelOnce() {
        let c = Canvas(width: 40, height: 20)
        let translucent = Color(0, 0, 0, 0.5)
        c.polyline([(5, 10), (20, 10), (35, 10)], width: 3, translucent)
        // At the joint and elsewhere on the line the colour is the same (no double blending).
        #expect(c.pixel(20, 10) == c.pixel(12, 10))
        #expect(c.pixel(12, 10) == (128, 128, 128))
        #expect(isWhite(c.pixel(20, 14)))
    }

    @Test func polygonsFillTheirInterior() {
        let c = Canvas(width: 20, height: 20)
        c.fillPolygon([(2, 2), (18, 2), (10, 18)], .black)
        #expect(c.pixel(10, 6) == (0, 0, 0))
        #expect(isWhite(c.pixel(2, 16)) && isWhite(c.pixel(17, 16)))
    }

    @Test func textPutsInkInItsBox() {
        let c = Canvas(width: 100, height: 30)
        Font.normal.draw("Hello", x: 10, y: 20, color: .black, on: c)
        let inked = (0..<30).flatMap { y in (0..<100).map { (x: $0, y: y) } }.filter { !isWhite(c.pixel($0.x, $0.y)) }
        #expect(!inked.isEmpty)
        let width = Font.normal.width("Hello")
        #expect(inked.allSatisfy { $0.x >= 10 && Double($0.x) <= 10 + width + 1 && $0.y >= 20 - Font.normal.ascent && $0.y < 20 + Font.normal.descent })
        #expect(Font.normal.width("WW") > Font.normal.width("ii"))
        #expect(Font.title.lineHeight > Font.normal.lineHeight && Font.normal.lineHeight > Font.small.lineHeight)
    }

    @Test func verticalTextRunsBottomToTop() {
        let c = Canvas(width: 30, height: 120)
        Font.normal.drawVertical("label", x: 5, centerY: 60, color: .black, on: c)
        let inked = (0..<120).flatMap { y in (0..<30).map { (x: $0, y: y) } }.filter { !isWhite(c.pixel($0.x, $0.y)) }
        let ys = inked.map(\.y), xs = inked.map(\.x)
        // Taller than wide, centred on 60, inside the line box to the right of x = 5.
        #expect((ys.max()! - ys.min()!) > 2 * (xs.max()! - xs.min()!))
        #expect(abs(Double(ys.max()! + ys.min()!) / 2 - 60) < 4)
        #expect(xs.min()! >= 5 && xs.max()! < 5 + Font.normal.lineHeight)
    }
}

@Suite struct TickTests {
    @Test(arguments: [
        (1.0, 5, 0.2), (10.0, 5, 2.0), (7.0, 10, 1.0), (0.003, 5, 0.001), (1234.0, 5, 500.0), (100.0, 4, 50.0),
    ])
    func niceStepsAreOneTwoOrFiveTimesAPowerOfTen(span: Double, count: Int, step: Double) {
        #expect(abs(Ticks.niceStep(span, maxCount: count) - step) < step * 1e-12)
    }

    @Test func linearTicksAndLabels() {
        #expect(Ticks.linear(-0.05, 1.05, step: 0.2) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1])
        #expect(Ticks.labels([0, 0.2, 0.4], step: 0.2) == ["0.0", "0.2", "0.4"])
        #expect(Ticks.labels([-2, 0, 2], step: 2) == ["−2", "0", "2"])
        #expect(Ticks.labels([0, 200000, 400000], step: 200000) == ["0", "2×10⁵", "4×10⁵"])
    }

    @Test func logTicksAreDecadesWithMinorTicksBetween() {
        let t = Ticks.log(0.5, 2000, maxCount: 8)
        #expect(t.major == [1, 10, 100, 1000])
        #expect(t.labels == ["10⁰", "10¹", "10²", "10³"])
        #expect(t.minor.contains(2) && t.minor.contains(50) && !t.minor.contains(10))
        let short = Ticks.log(2, 30, maxCount: 8)
        #expect(short.major == [2, 5, 10, 20])
    }

    @Test func givenTicksAreUsedAsTheyAreInsideTheRange() {
        var f = Figure()
        f.x.log = true
        f.x.ticks = [256, 1024, 4096, 65536, -1]
        let t = f.ticks(200, 5000, axis: f.x, maxCount: 8)
        #expect(t.major == [256, 1024, 4096])
        #expect(t.labels == ["256", "1024", "4096"])
        #expect(Ticks.label(0.25) == "0.25" && Ticks.label(-3) == "−3" && Ticks.label(1e-5) == "1e−05")
    }
}

/// Figures checked by pixels, against positions worked out by hand from the layout rules:
/// 640×480, axes box left = 80 (12.5%), right = 576 (90%), top = 38 (8%, no title),
/// bottom = 427 (89%), data limits padded by 5% on each side.
@Suite struct FigureTests {
    func scatterFigure() -> Figure {
        var f = Figure()
        f.series = [.scatter(x: [0, 10, 5], y: [0, 10, 5], colors: [Palette.category(0)], radius: 3.5)]
        return f
    }

    @Test func axesBoxSpinesAndTicksWhereTheLayoutSays() {
        let c = scatterFigure().render()
        // Spines are black one-pixel lines on the box edges.
        #expect(c.pixel(300, 427) == (0, 0, 0) && c.pixel(300, 38) == (0, 0, 0))
        #expect(c.pixel(80, 200) == (0, 0, 0) && c.pixel(576, 200) == (0, 0, 0))
        // x limits [−0.5, 10.5]: the tick for 0 is at 80 + 0.5/11·496 = 102.5, for 10 at 553.5.
        #expect(c.pixel(102, 430) == (0, 0, 0) || c.pixel(103, 430) == (0, 0, 0))
        #expect(c.pixel(553, 430) == (0, 0, 0) || c.pixel(554, 430) == (0, 0, 0))
        #expect(isWhite(c.pixel(120, 430)))
        // y ticks outside the left spine: 0 at 427 − 0.5/11·389 = 409.3, in pixel row 409.
        #expect(c.pixel(77, 409) == (0, 0, 0) && isWhite(c.pixel(77, 405)))
        // Tick labels are drawn under the x ticks.
        #expect(count(c, (255, 255, 255), in: (90, 435, 115, 452)) < 25 * 17)
    }

    @Test func aKnownScatterPointLandsOnItsPixel() {
        let c = scatterFigure().render()
        // (5, 5) → x = 80 + 5.5/11·496 = 328, y = 427 − 5.5/11·389 = 232.5.
        let p = c.pixel(328, 232)
        #expect((p.r, p.g, p.b) == tabBlue)
        // Nothing blue far from the three points.
        #expect(count(c, tabBlue, in: (340, 240, 500, 400)) == 0)
    }

    @Test func seriesTakeTab10ColoursInOrderAndTheLegendShowsThem() {
        var f = Figure()
        let x = (0..<50).map(Double.init)
        f.series = [.line(x: x, y: x.map { $0 }, color: Palette.category(0), label: "a", width: 2.1, dashed: false, markers: false, right: false),
                    .line(x: x, y: x.map { 49 - $0 }, color: Palette.category(1), label: "b", width: 2.1, dashed: false, markers: false, right: false)]
        f.legend = [LegendEntry("a", Palette.category(0), .line), LegendEntry("b", Palette.category(1), .line)]
        let c = f.render()
        #expect(count(c, tabBlue) > 300)
        #expect(count(c, tabOrange) > 300)
        // The lines cross at the centre of the box; the legend sits in a corner, not there.
        let legendBlue = count(c, tabBlue, tolerance: 10, in: (80, 38, 576, 427))
        #expect(legendBlue > 0)
    }

    @Test func nanPointsBreakTheLine() {
        var f = Figure()
        f.series = [.line(x: [0, 1, 2, 3], y: [0, 1, .nan, 3], color: Palette.category(0), label: nil, width: 2.1, dashed: false, markers: false, right: false)]
        let c = f.render()
        #expect(count(c, tabBlue) > 50)
        // Between x = 1 and x = 3 (pixels ≈ 250–530) there is no segment at the height of y = 2.
        #expect(count(c, tabBlue, tolerance: 40, in: (300, 150, 480, 250)) == 0)
    }

    @Test func titleAndLabelsPutInkWhereTheyBelong() {
        var f = scatterFigure()
        f.title = "A title"
        f.x.label = "x label"
        f.y.label = "y label"
        let c = f.render()
        let inkTitle = 640 * 30 - count(c, (255, 255, 255), in: (0, 0, 640, 30))
        #expect(inkTitle > 50)
        let inkXLabel = 200 * 25 - count(c, (255, 255, 255), in: (220, 450, 420, 475))
        #expect(inkXLabel > 30)
        let inkYLabel = 40 * 200 - count(c, (255, 255, 255), in: (10, 140, 50, 340))
        #expect(inkYLabel > 30)
    }

    @Test func heatmapCellsTakeViridisColours() {
        var f = Figure()
        f.series = [.heat(values: [0, 1, 0.5, 0.25], rows: 2, cols: 2, lo: 0, hi: 1)]
        f.y.inverted = true
        let c = f.render()
        // matplotlib: viridis(0) = #440154, viridis(1) = #fde725.
        #expect(Palette.viridisBytes(0) == (0x44, 0x01, 0x54))
        #expect(Palette.viridisBytes(1) == (0xfd, 0xe7, 0x25))
        // Cell (0, 0) is the top-left quarter of the box, cell (0, 1) the top-right.
        #expect(c.pixel(150, 100) == (0x44, 0x01, 0x54))
        #expect(c.pixel(500, 100) == (0xfd, 0xe7, 0x25))
    }

    @Test func imageGridsAreLaidOutAsAsked() {
        let values: [Double] = [0, 0.25, 0.5, 0.75, 1]
        var g = ImageGrid(images: values.map { v in [Double](repeating: v, count: 16) }, h: 4, w: 4, channels: 1, cols: 2)
        g.width = 200
        g.height = 300
        let (scale, origin) = g.layout()
        #expect(scale >= 2)
        let c = g.render()
        for (k, v) in values.enumerated() {
            let (x, y) = origin(k)
            let p = c.pixel(x + 2 * scale, y + 2 * scale)
            #expect(p.r == UInt8((v * 255).rounded()) && p.g == p.r && p.b == p.r)
            if k % 2 == 1 { #expect(origin(k).y == origin(k - 1).y && origin(k).x > origin(k - 1).x) }
        }
        #expect(origin(2).y > origin(0).y && origin(2).x == origin(0).x)
    }

    @Test func renderingIsDeterministic() throws {
        var f = scatterFigure()
        f.title = "same"
        let a = try PNG.encode(f.render()), b = try PNG.encode(f.render())
        #expect(a == b)
        #expect(a.prefix(8) == Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    }

    @Test func allEqualValuesStillGetAnAxis() {
        var f = Figure()
        f.series = [.line(x: [1, 1, 1], y: [2, 2, 2], color: Palette.category(0), label: nil, width: 2, dashed: false, markers: true, right: false)]
        let c = f.render()
        #expect(count(c, tabBlue) > 10)
    }
}

/// Issue 27.15: figures that scale, legends that keep off the data, methods that are one point.
@Suite struct FigureScaleAndLegendTests {
    func ink(_ c: Canvas) -> Int { c.width * c.height - count(c, (255, 255, 255)) }

    func labelled(width: Int, height: Int, scale: Double) -> Figure {
        var f = Figure()
        let x = (0..<20).map(Double.init)
        f.series = [.line(x: x, y: x.map { $0 * $0 }, color: Palette.category(0), label: "a", width: 2.1, dashed: false, markers: true, right: false)]
        f.legend = [LegendEntry("squares", Palette.category(0), .markedLine)]
        f.title = "A title that is long enough"
        f.x.label = "x label"
        f.y.label = "y label"
        (f.width, f.height, f.scale) = (width, height, scale)
        return f
    }

    @Test func scaleGrowsTextLinesAndMarkersWithTheFigure() {
        let base = ink(labelled(width: 640, height: 480, scale: 1).render())
        let scaled = ink(labelled(width: 1920, height: 1440, scale: 3).render())
        let unscaled = ink(labelled(width: 1920, height: 1440, scale: 1).render())
        // Everything drawn is 3× in both directions: 9× the ink, give or take hinting and rounding.
        let r = Double(scaled) / Double(base)
        #expect(r > 7.5 && r < 10.5, "ink ratio \(r)")
        // Without scale only lengths grow: thin lines and 11-pixel text, about 3× the ink.
        #expect(Double(unscaled) / Double(base) < 4.5)
        // The fonts come in the sizes the scale asks for.
        #expect(Font.normal(scale: 3).size == 42 && Font.title(scale: 2).size == 34 && Font.small(scale: 1).size == 11)
        #expect(Font.normal(scale: 1.2).size == 17)  // the nearest embedded size
    }

    @Test func theLegendTakesAFreeCornerAndNeverCoversAPoint() {
        var f = Figure()
        // Points in the upper right, the upper left and the bottom middle: the lower corners are free.
        let px: [Double] = [9, 9.5, 10, 0, 0.5, 1, 5], py: [Double] = [9, 9.5, 10, 9, 9.5, 10, 0]
        f.series = [.scatter(x: px, y: py, colors: [Palette.category(0)], radius: 3.5)]
        f.legend = [LegendEntry("a long legend label", Palette.category(0), .marker)]
        let c = f.render()
        // Every one of the seven points keeps its colour at its centre: none lies under the legend's veil.
        let frame = (left: 80.0, top: 38.0, right: 576.0, bottom: 427.0)
        let xs = { (v: Double) in frame.left + (v + 0.5) / 11 * (frame.right - frame.left) }
        let ys = { (v: Double) in frame.bottom - (v + 0.5) / 11 * (frame.bottom - frame.top) }
        for (x, y) in zip(px, py) {
            let p = c.pixel(Int(xs(x)), Int(ys(y)))
            #expect((p.r, p.g, p.b) == tabBlue, "point (\(x), \(y)) at \(Int(xs(x))), \(Int(ys(y))) is \(p)")
        }
    }

    @Test func withNoFreePlaceInsideTheLegendStandsOutside() {
        var f = Figure()
        // A 12×12 grid of points: every place inside the axes covers some.
        let g = (0..<144).map { (Double($0 % 12), Double($0 / 12)) }
        f.series = [.scatter(x: g.map(\.0), y: g.map(\.1), colors: [Palette.category(0)], radius: 3.5)]
        f.legend = [LegendEntry("points", Palette.category(0), .marker)]
        #expect(!f.legendPlace(.init(left: 80, top: 38, right: 576, bottom: 427), .init(lo: -0.55, hi: 11.55, log: false, p0: 80, p1: 576),
                               .init(lo: -0.55, hi: 11.55, log: false, p0: 427, p1: 38), nil).free)
        let c = f.render()
        // The axes narrowed: the right spine moved left, and the legend's marker is right of it.
        var spine = 0
        for x in stride(from: 600, to: 300, by: -1) where c.pixel(x, 200) == (0, 0, 0) { spine = x; break }
        #expect(spine < 576 && spine > 320, "right spine at \(spine)")
        #expect(count(c, tabBlue, tolerance: 10, in: (spine + 2, 0, 640, 480)) > 20)
        // Every grid point is visible.
        #expect(count(c, tabBlue) > 144 * 20)
    }

    @Test func aLonePointIsDrawnEvenWithoutMarkers() {
        var f = Figure()
        f.series = [
            .line(x: [0, 10], y: [0, 10], color: Palette.category(1), label: nil, width: 2.1, dashed: false, markers: false, right: false),
            .line(x: [5], y: [5], color: Palette.category(0), label: nil, width: 2.1, dashed: false, markers: false, right: false),
        ]
        let c = f.render()
        #expect(count(c, tabBlue) > 10)
    }
}

@Suite struct PNGRoundTripTests {
    @Test func roundTripsWhatItWrites() throws {
        let c = Canvas(width: 5, height: 3)
        c.fillRect(1, 1, 3, 2, Color(hex: 0x336699))
        let img = try PNGDecoder.decode(try PNG.encode(c))
        #expect(img.width == 5 && img.height == 3 && img.channels == 3)
        let i = (1 * 5 + 2) * 3
        #expect(img.values[i] == Float(0x33) / 255 && img.values[i + 1] == Float(0x66) / 255 && img.values[i + 2] == Float(0x99) / 255)
    }
}

@Suite struct LegendPlacementTests {
    /// A line with a gap (NaN: a sweep point without a completed run) and a legend: the legend
    /// avoids the drawn points and the NaN is skipped (it trapped once, converting NaN to Int).
    @Test func linesWithNaNPointsStillPlaceTheLegend() {
        var fig = Figure()
        fig.series.append(.line(x: [1, 2, 3, 4], y: [1, .nan, 3, 4], color: Palette.category(0), label: "a", width: 2,
                                dashed: false, markers: true, right: false))
        fig.legend.append(LegendEntry("a", Palette.category(0), .markedLine))
        let canvas = fig.render()
        #expect(count(canvas, tabBlue, tolerance: 8) > 100)
    }
}
