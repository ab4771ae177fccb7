import Foundation
import Plot
import SqueezeCore

/// `plot.*`: figures written to PNG under the output directory and recorded as artifacts.
extension Builtins {
    /// Options every kind takes.
    static let figureParams: [ParamSpec] = [
        ParamSpec("title", .string, .none, namedOnly: true, doc: "Title above the axes."),
        ParamSpec("xlabel", .string, .none, namedOnly: true, doc: "Label under the x axis."),
        ParamSpec("ylabel", .string, .none, namedOnly: true, doc: "Label beside the y axis."),
        ParamSpec("to", .string, .none, namedOnly: true, doc: "PNG file to write (default: <kind>-<n>.png in the output directory)."),
        ParamSpec("size", .list, .none, namedOnly: true, doc: "[width, height] in pixels (default [640, 480])."),
        ParamSpec(
            "scale", .number, .value(.number(1)), range: 0.5...4, namedOnly: true,
            doc: "Text, lines, markers and margins grow by this factor: size: [1920, 1440], scale: 3 reads like the default figure."),
        ParamSpec("grid", .bool, .value(.bool(false)), namedOnly: true, doc: "Light grid lines at the major ticks."),
        ParamSpec("logx", .bool, .value(.bool(false)), namedOnly: true, doc: "Logarithmic x axis (non-positive values are skipped)."),
        ParamSpec("logy", .bool, .value(.bool(false)), namedOnly: true, doc: "Logarithmic y axis (non-positive values are skipped)."),
        ParamSpec(
            "xticks", .any, .none, namedOnly: true,
            doc: "Ticks at exactly these x values (a list or tensor of numbers), e.g. the sizes of a sweep."),
        ParamSpec("yticks", .any, .none, namedOnly: true, doc: "Ticks at exactly these y values."),
    ]

    /// The values of a tensor or list argument as Doubles (any shape, flattened).
    static func doubles(_ args: Arguments, _ name: String) throws -> (values: [Double], shape: [Int]) {
        guard let t = Ops.toTensor(args.value(name)) else {
            throw args.error(name, "'\(name)' must be a tensor or a list of numbers, got \(args.value(name).typeDescription)")
        }
        return (t.storage.map(Double.init), t.shape)
    }

    /// Applies the common options, renders and writes the PNG; returns its path.
    /// `sizeParam` names the figure-size argument (`figsize` for scatter, whose `size` is the marker).
    static func finish(
        _ fig: inout Figure, _ args: Arguments, _ interp: Interpreter, kind: String, sizeParam: String = "size"
    ) throws -> Value {
        fig.title = args.isNone("title") ? fig.title : try args.string("title")
        if !args.isNone("xlabel") { fig.x.label = try args.string("xlabel") }
        if !args.isNone("ylabel") { fig.y.label = try args.string("ylabel") }
        fig.grid = try args.bool("grid")
        if try args.bool("logx") { fig.x.log = true }
        if try args.bool("logy") { fig.y.log = true }
        for (name, isX) in [("xticks", true), ("yticks", false)] where !args.isNone(name) {
            let v = try doubles(args, name).values
            guard v.allSatisfy(\.isFinite) else { throw args.error(name, "'\(name)' must hold finite numbers") }
            if isX { fig.x.ticks = v } else { fig.y.ticks = v }
        }
        (fig.width, fig.height) = try figureSize(args, sizeParam)
        fig.scale = try args.number("scale")
        return try write(fig.render(), args, interp, kind: kind)
    }

    static func figureSize(_ args: Arguments, _ name: String = "size") throws -> (Int, Int) {
        guard !args.isNone(name) else { return (640, 480) }
        let s = try args.ints(name)
        guard s.count == 2, (64...8192).contains(s[0]), (64...8192).contains(s[1]) else {
            throw args.error(name, "\(name) must be [width, height] with each between 64 and 8192 pixels")
        }
        return (s[0], s[1])
    }

    static func write(_ canvas: Canvas, _ args: Arguments, _ interp: Interpreter, kind: String) throws -> Value {
        let n = interp.nextCount("plot")
        let path = args.isNone("to") ? "\(kind)-\(n).png" : try args.string("to")
        guard path.lowercased().hasSuffix(".png") else {
            throw args.error("to", "plots are written as PNG: give a path ending in .png, got '\(path)'")
        }
        let url: URL
        do { url = try interp.sandbox.resolveWrite(path) } catch let r as Sandbox.Refusal {
            throw args.error("to", r.description)
        }
        let data: Data
        do { data = try PNG.encode(canvas) } catch { throw args.error("cannot encode the PNG: \(error)") }
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url, options: .atomic)
        } catch {
            throw args.error("to", "cannot write '\(path)': \(error.localizedDescription)")
        }
        interp.observer?.artifact(path: url.path, kind: "png")
        return .string(path)
    }

    /// Counts NaN/inf entries and warns once per call.
    static func warnNonFinite(_ interp: Interpreter, _ op: String, _ columns: [Double]...) {
        warnNonFinite(interp, op, columns)
    }

    static func warnNonFinite(_ interp: Interpreter, _ op: String, _ columns: [[Double]]) {
        let bad = columns.reduce(0) { $0 + $1.filter { !$0.isFinite }.count }
        if bad > 0 { interp.warn("\(op): skipped \(bad) NaN or infinite value\(bad == 1 ? "" : "s")") }
    }

    static func labelList(_ args: Arguments, _ name: String) throws -> [String]? {
        guard !args.isNone(name) else { return nil }
        return try args.list(name).map { v -> String in
            if case .string(let s) = v { return s }
            return Format.inline(v)
        }
    }

    static let plots: [Operation] = [
        Operation(
            "plot.line", family: "plots", summary: "Line plot of one or several series (rate–distortion curves, losses).",
            doc:
                """
                    plot.line(y) plots y against 0, 1, …; plot.line(x, y) against x. y may be a vector, a list of vectors, or a matrix \
                    whose rows (or columns, when the rows do not match x) are series; plot.line([x1, x2], [y1, y2]) gives each series its \
                    own x; each series takes the next tab10 colour and its name from labels:. NaN points break the line and are counted \
                    in a warning. Returns the PNG's path.
                    """,
            example:
                """
                    r = [1, 2, 4, 8, 16]\nplot.line(r, [[0.9, 0.7, 0.4, 0.2, 0.1], [0.8, 0.5, 0.3, 0.1, 0.05]], labels: [\"svd\", \
                    \"rtn\"], xlabel: \"rank\", ylabel: \"relative error\", logx: true, to: \"rd.png\")
                    """,
            params: [
                ParamSpec("x", .any), ParamSpec("y", .any, .none),
                ParamSpec("labels", .list, .none, namedOnly: true, doc: "Series names, shown in a legend."),
                ParamSpec("markers", .bool, .value(.bool(false)), namedOnly: true, doc: "Mark each point."),
            ] + figureParams
        ) { args, interp in
            var xs: [Double]
            var series: [[Double]] = []
            var seriesX: [[Double]] = []
            if args.isNone("y") {
                let (v, shape) = try doubles(args, "x")
                guard shape.count <= 2 else { throw args.error("x", "expected a vector or a matrix, got shape \(Shape.describe(shape))") }
                series = shape.count == 2 ? stride(from: 0, to: v.count, by: max(1, shape[1])).map { Array(v[$0..<($0 + shape[1])]) } : [v]
                xs = (0..<(series.first?.count ?? 0)).map(Double.init)
            } else if case .list(let xItems) = args.value("x"), case .list(let yItems) = args.value("y"),
                xItems.count == yItems.count,
                xItems.contains(where: {
                    if case .number = $0 { return false }; return true
                })
            {
                // One x per series: plot.line([x1, x2], [y1, y2]) (rate–distortion curves of different methods).
                for (i, (xv, yv)) in zip(xItems, yItems).enumerated() {
                    guard let xt = Ops.toTensor(xv), let yt = Ops.toTensor(yv), xt.count == yt.count else {
                        throw args.error("y", "series \(i): x and y must be vectors of the same length")
                    }
                    seriesX.append(xt.storage.map(Double.init))
                    series.append(yt.storage.map(Double.init))
                }
                xs = seriesX.first ?? []
            } else {
                xs = try doubles(args, "x").values
                if case .list(let items) = args.value("y"),
                    items.contains(where: {
                        if case .number = $0 { return false }; return true
                    })
                {
                    for (i, item) in items.enumerated() {
                        guard let t = Ops.toTensor(item) else {
                            throw args.error("y", "y[\(i)] must be a vector, got \(item.typeDescription)")
                        }
                        series.append(t.storage.map(Double.init))
                    }
                } else {
                    let (v, shape) = try doubles(args, "y")
                    if shape.count == 2 {
                        if shape[1] == xs.count {
                            series = stride(from: 0, to: v.count, by: max(1, shape[1])).map { Array(v[$0..<($0 + shape[1])]) }
                        } else if shape[0] == xs.count {
                            series = (0..<shape[1]).map { j in (0..<shape[0]).map { v[$0 * shape[1] + j] } }
                        } else {
                            throw args.error(
                                "y",
                                "a \(Shape.describe(shape)) matrix has neither rows nor columns of length \(xs.count) (the length of x)")
                        }
                    } else {
                        series = [v]
                    }
                }
            }
            guard !xs.isEmpty, !series.isEmpty else { throw args.error("x", "nothing to plot: the data is empty") }
            if seriesX.isEmpty {
                for (i, s) in series.enumerated() where s.count != xs.count {
                    throw args.error("y", "series \(i) has \(s.count) points but x has \(xs.count)")
                }
                seriesX = series.map { _ in xs }
            }
            let labels = try labelList(args, "labels")
            if let labels, labels.count != series.count {
                throw args.error("labels", "\(labels.count) label\(labels.count == 1 ? "" : "s") for \(series.count) series")
            }
            warnNonFinite(interp, "plot.line", seriesX + series)
            guard zip(seriesX, series).contains(where: { sx, s in zip(sx, s).contains { $0.isFinite && $1.isFinite } }) else {
                throw args.error("y", "nothing to plot: no point has finite coordinates")
            }
            var fig = Figure()
            let markers = try args.bool("markers")
            for (i, s) in series.enumerated() {
                fig.series.append(
                    .line(
                        x: seriesX[i], y: s, color: Palette.category(i), label: labels?[i], width: 2.1, dashed: false, markers: markers,
                        right: false))
                // A method that is one point is a marker in the legend, as on the axes.
                let points = zip(seriesX[i], s).filter { $0.isFinite && $1.isFinite }.count
                let kind: LegendEntry.Kind = points == 1 ? .marker : markers ? .markedLine : .line
                if let l = labels?[i] { fig.legend.append(LegendEntry(l, Palette.category(i), kind)) }
            }
            return try finish(&fig, args, interp, kind: "line")
        },

        Operation(
            "plot.scatter", family: "plots", summary: "Scatter plot of 2-D points, coloured by cluster label or by value.",
            doc:
                """
                    plot.scatter(X) takes an n×2 matrix (a 2-D embedding); plot.scatter(x, y) two vectors. color: one value per point: \
                    whole numbers with at most 20 distinct values are categories (tab10, with a legend); anything else is continuous \
                    (viridis, with a colour bar). size: marker radius in pixels (default 3.5, smaller for large n). NaN points are \
                    skipped and counted in a warning.
                    """,
            example:
                """
                    X = randn(200, 2, seed: 1)\nlabels = X[:, 0] > 0\nplot.scatter(X, color: labels, title: \"two halves\", to: \
                    \"scatter.png\")
                    """,
            params: [
                ParamSpec("x", .any), ParamSpec("y", .any, .none),
                ParamSpec("color", .any, .none, namedOnly: true, doc: "Per-point labels (categories) or values (continuous)."),
                ParamSpec("size", .number, .none, range: 0.5...50, namedOnly: true, doc: "Marker radius in pixels."),
                ParamSpec("colorlabel", .string, .none, namedOnly: true, doc: "Colour bar label for continuous colour."),
            ]
                + figureParams.map {
                    $0.name == "size"
                        ? ParamSpec("figsize", .list, .none, namedOnly: true, doc: "[width, height] in pixels (default [640, 480]).") : $0
                }
        ) { args, interp in
            var xs: [Double], ys: [Double]
            if args.isNone("y") {
                let (v, shape) = try doubles(args, "x")
                guard shape.count == 2, shape[1] == 2 else {
                    throw args.error("x", "plot.scatter(X) needs an n×2 matrix, got shape \(Shape.describe(shape)); or pass x and y")
                }
                xs = stride(from: 0, to: v.count, by: 2).map { v[$0] }
                ys = stride(from: 1, to: v.count, by: 2).map { v[$0] }
            } else {
                xs = try doubles(args, "x").values
                ys = try doubles(args, "y").values
                guard xs.count == ys.count else { throw args.error("y", "x has \(xs.count) values but y has \(ys.count)") }
            }
            guard !xs.isEmpty else { throw args.error("x", "nothing to plot: no points") }
            var fig = Figure()
            var colors = [Palette.category(0)]
            if !args.isNone("color") {
                let c = try doubles(args, "color").values
                guard c.count == xs.count else { throw args.error("color", "\(c.count) colours for \(xs.count) points") }
                let finite = c.filter(\.isFinite)
                let distinct = Set(finite)
                if !finite.isEmpty && finite.allSatisfy({ $0 == $0.rounded() }) && distinct.count <= 20 {
                    let cats = distinct.sorted()
                    let index = Dictionary(uniqueKeysWithValues: cats.enumerated().map { ($0.element, $0.offset) })
                    colors = c.map { $0.isFinite ? Palette.category(index[$0] ?? 0) : Color(0.5, 0.5, 0.5) }
                    fig.legend = cats.enumerated().map { LegendEntry(String(Int($0.element)), Palette.category($0.offset), .marker) }
                } else {
                    let lo = finite.min() ?? 0, hi = finite.max() ?? 1
                    colors = c.map { Palette.viridis(hi > lo ? ($0 - lo) / (hi - lo) : 0.5) }
                    fig.colorbar = (lo, hi == lo ? lo + 1 : hi, args.isNone("colorlabel") ? nil : try args.string("colorlabel"))
                }
            }
            warnNonFinite(interp, "plot.scatter", xs, ys)
            guard zip(xs, ys).contains(where: { $0.isFinite && $1.isFinite }) else {
                throw args.error("x", "nothing to plot: no point has finite coordinates")
            }
            let n = Double(xs.count)
            let radius = try args.optionalNumber("size") ?? (n <= 1000 ? 3.5 : max(1, 3.5 * (1000 / n).squareRoot()))
            fig.series.append(.scatter(x: xs, y: ys, colors: colors, radius: radius))
            return try finish(&fig, args, interp, kind: "scatter", sizeParam: "figsize")
        },

        Operation(
            "plot.hist", family: "plots", summary: "Histogram of values (weights, codes, errors).",
            doc:
                """
                    bins equal-width bins over [min, max] of the finite values (numpy.histogram's edges; all-equal values get the range \
                    [v − 0.5, v + 0.5]). density: true scales to unit area. NaN values are skipped and counted in a warning.
                    """,
            example: "w = randn(10000, seed: 3)\nplot.hist(w, bins: 40, xlabel: \"weight\", ylabel: \"count\", to: \"hist.png\")",
            params: [
                ParamSpec("values", .any),
                ParamSpec("bins", .integer, .value(.number(50)), range: 1...10000, namedOnly: true, doc: "Number of bins."),
                ParamSpec("density", .bool, .value(.bool(false)), namedOnly: true, doc: "Normalise to unit area."),
            ] + figureParams
        ) { args, interp in
            let all = try doubles(args, "values").values
            guard !all.isEmpty else { throw args.error("values", "nothing to plot: no values") }
            warnNonFinite(interp, "plot.hist", all)
            let v = all.filter(\.isFinite)
            guard !v.isEmpty else { throw args.error("values", "nothing to plot: no finite values") }
            let bins = try args.int("bins")
            var lo = v.min() ?? 0, hi = v.max() ?? 1
            if lo == hi { lo -= 0.5; hi += 0.5 }
            let edges = (0...bins).map { lo + (hi - lo) * Double($0) / Double(bins) }
            var counts = [Double](repeating: 0, count: bins)
            for x in v {
                var k = Int((x - lo) / (hi - lo) * Double(bins))
                if k == bins { k = bins - 1 }  // the last bin is closed, as in numpy
                if k >= 0 && k < bins { counts[k] += 1 }
            }
            if try args.bool("density") {
                let width = (hi - lo) / Double(bins)
                counts = counts.map { $0 / (Double(v.count) * width) }
            }
            var fig = Figure()
            fig.series.append(
                .bars(
                    left: Array(edges.dropLast()), right: Array(edges.dropFirst()), top: counts, base: 0, color: Palette.category(0),
                    label: nil))
            return try finish(&fig, args, interp, kind: "hist")
        },

        Operation(
            "plot.bar", family: "plots", summary: "Bar chart of values with optional category names (codebook usage, per-layer errors).",
            example: "plot.bar([5, 3, 8], labels: [\"a\", \"b\", \"c\"], ylabel: \"uses\", to: \"bar.png\")",
            params: [
                ParamSpec("values", .any), ParamSpec("labels", .list, .none, namedOnly: true, doc: "A name per bar (default 0, 1, …)."),
            ] + figureParams
        ) { args, interp in
            let v = try doubles(args, "values").values
            guard !v.isEmpty else { throw args.error("values", "nothing to plot: no values") }
            let labels = try labelList(args, "labels") ?? v.indices.map(String.init)
            guard labels.count == v.count else { throw args.error("labels", "\(labels.count) labels for \(v.count) bars") }
            warnNonFinite(interp, "plot.bar", v)
            var fig = Figure()
            fig.series.append(
                .bars(
                    left: v.indices.map { Double($0) - 0.4 }, right: v.indices.map { Double($0) + 0.4 }, top: v, base: 0,
                    color: Palette.category(0), label: nil))
            fig.x.categories = labels
            fig.x.limits = (-0.6, Double(v.count) - 0.4)
            return try finish(&fig, args, interp, kind: "bar")
        },

        Operation(
            "plot.heatmap", family: "plots", summary: "A matrix as colours (memberships, similarities, attention), with a colour bar.",
            doc:
                """
                    Row 0 at the top, as numpy arrays print. Values map linearly through viridis from min to max (or vmin/vmax); NaN \
                    cells are white.
                    """,
            example: "M = randn(8, 12, seed: 2)\nplot.heatmap(M, title: \"random\", to: \"heat.png\")",
            params: [
                ParamSpec("M", .tensor), ParamSpec("vmin", .number, .none, namedOnly: true),
                ParamSpec("vmax", .number, .none, namedOnly: true),
                ParamSpec("label", .string, .none, namedOnly: true, doc: "Colour bar label."),
            ] + figureParams
        ) { args, interp in
            let m = try args.tensor("M")
            guard m.rank == 2 || m.rank == 1 else { throw args.error("M", "expected a matrix, got shape \(Shape.describe(m.shape))") }
            let rows = m.rank == 2 ? m.shape[0] : 1, cols = m.rank == 2 ? m.shape[1] : m.shape[0]
            guard rows > 0, cols > 0 else { throw args.error("M", "nothing to plot: the matrix is empty") }
            let v = m.storage.map(Double.init)
            let finite = v.filter(\.isFinite)
            guard !finite.isEmpty else { throw args.error("M", "nothing to plot: no finite values") }
            let lo = try args.optionalNumber("vmin") ?? (finite.min() ?? 0), hi = try args.optionalNumber("vmax") ?? (finite.max() ?? 1)
            var fig = Figure()
            fig.series.append(.heat(values: v, rows: rows, cols: cols, lo: lo, hi: hi))
            fig.y.inverted = true
            fig.x.integer = true
            fig.y.integer = true
            fig.colorbar = (lo, hi > lo ? hi : lo + 1, args.isNone("label") ? nil : try args.string("label"))
            return try finish(&fig, args, interp, kind: "heatmap")
        },

        Operation(
            "plot.images", family: "plots", summary: "A grid of images (reconstructions, codebook entries, filters).",
            doc:
                """
                    stack is n×h×w (grey) or n×h×w×3 (RGB), values in [0, 1] (normalize: true rescales each image to its own min..max). \
                    Each image is magnified by the same whole factor with nearest-neighbour sampling.
                    """,
            example: "S = rand(6, 8, 8, seed: 4)\nplot.images(S, cols: 3, title: \"samples\", to: \"grid.png\")",
            params: [
                ParamSpec("stack", .tensor),
                ParamSpec("cols", .integer, .none, range: 1...1000, namedOnly: true, doc: "Images per row (default ⌈√n⌉)."),
                ParamSpec("labels", .list, .none, namedOnly: true, doc: "A caption per image."),
                ParamSpec("normalize", .bool, .value(.bool(false)), namedOnly: true, doc: "Scale each image to [0, 1]."),
            ]
                + figureParams.filter { ["title", "to", "size", "scale"].contains($0.name) }
        ) { args, interp in
            let s = try args.tensor("stack")
            guard s.rank == 3 || (s.rank == 4 && s.shape[3] == 3) else {
                throw args.error("stack", "expected n×h×w (grey) or n×h×w×3 (RGB) images, got shape \(Shape.describe(s.shape))")
            }
            let n = s.shape[0], h = s.shape[1], w = s.shape[2], c = s.rank == 4 ? 3 : 1
            guard n > 0, h > 0, w > 0 else { throw args.error("stack", "nothing to plot: no images") }
            let per = h * w * c
            var images = (0..<n).map { k in s.storage[(k * per)..<((k + 1) * per)].map(Double.init) }
            if try args.bool("normalize") {
                images = images.map { img in
                    let f = img.filter(\.isFinite)
                    let lo = f.min() ?? 0, hi = f.max() ?? 1
                    return img.map { hi > lo ? ($0 - lo) / (hi - lo) : 0.5 }
                }
            }
            let cols = try args.optionalInt("cols") ?? Int(Double(n).squareRoot().rounded(.up))
            var grid = ImageGrid(images: images, h: h, w: w, channels: c, cols: cols)
            grid.labels = try labelList(args, "labels")
            if let l = grid.labels, l.count != n { throw args.error("labels", "\(l.count) captions for \(n) images") }
            grid.title = args.isNone("title") ? nil : try args.string("title")
            (grid.width, grid.height) = try figureSize(args)
            grid.scale = try args.number("scale")
            return try write(grid.render(), args, interp, kind: "images")
        },

        Operation(
            "plot.spectrum", family: "plots", summary: "Singular values on a log scale, with the cumulative energy they keep.",
            doc:
                """
                    σ₁ ≥ σ₂ ≥ … against their index (from 1) on a log y axis; with energy: true (default) a second axis on the right \
                    shows Σᵢ≤ₖ σᵢ² / Σ σᵢ², the fraction of ‖A‖²_F a rank-k truncation keeps (Eckart–Young). Zeros are skipped on the log \
                    axis.
                    """,
            example: "S = svd(randn(50, 30, seed: 1)).S\nplot.spectrum(S, title: \"spectrum\", to: \"spectrum.png\")",
            params: [
                ParamSpec("S", .any),
                ParamSpec("energy", .bool, .value(.bool(true)), namedOnly: true, doc: "Draw the cumulative energy curve."),
            ] + figureParams
        ) { args, interp in
            let s = try doubles(args, "S").values
            guard !s.isEmpty else { throw args.error("S", "nothing to plot: no singular values") }
            warnNonFinite(interp, "plot.spectrum", s)
            guard s.contains(where: { $0.isFinite && $0 > 0 }) else {
                throw args.error("S", "nothing to plot: no positive singular values")
            }
            let k = s.indices.map { Double($0 + 1) }
            var fig = Figure()
            fig.y.log = true
            fig.x.label = "index"
            fig.y.label = "singular value"
            fig.x.integer = true
            fig.series.append(
                .line(x: k, y: s, color: Palette.category(0), label: "σᵢ", width: 2.1, dashed: false, markers: s.count <= 40, right: false))
            fig.legend.append(LegendEntry("σᵢ", Palette.category(0), s.count <= 40 ? .markedLine : .line))
            if try args.bool("energy") {
                let sq = s.map { $0.isFinite ? $0 * $0 : 0 }
                let total = sq.reduce(0, +)
                var acc = 0.0
                let e = sq.map {
                    acc += $0; return total > 0 ? acc / total : 0
                }
                var a2 = Axis()
                a2.limits = (0, 1.02)
                a2.label = "cumulative energy"
                fig.y2 = a2
                fig.series.append(
                    .line(x: k, y: e, color: Palette.category(1), label: "energy", width: 2.1, dashed: true, markers: false, right: true))
                fig.legend.append(LegendEntry("cumulative energy", Palette.category(1), .line, dashed: true))
            }
            return try finish(&fig, args, interp, kind: "spectrum")
        },
    ]
}
