import SqueezeCore
import TestSupport
import Testing

/// Shapes, broadcasting, reductions and sorting against numpy.
@Suite struct TensorTests {
    let fx = Fixture.core

    @Test func broadcastingMatchesNumpy() throws {
        let f = fx["broadcast"]
        let a = f["a"].tensor, c = f["c"].tensor, r = f["r"].tensor
        let ops: [String: BinaryOp] = ["add": .add, "sub": .sub, "mul": .mul, "div": .div, "maximum": .maximum, "lt": .lt]
        for (name, op) in ops {
            expectClose(try a.elementwise(op, c), f["ac"][name].tensor, Comment(rawValue: name))
            expectClose(try a.elementwise(op, r), f["ar"][name].tensor, Comment(rawValue: name))
        }
        #expect(throws: CoreError.shapeMismatch(op: "'+'", lhs: [2, 3], rhs: [2])) {
            try Tensor.zeros([2, 3]).elementwise(.add, Tensor.zeros([2]))
        }
        // Scalar tensors broadcast both ways; empty stays empty.
        #expect(try Tensor(scalar: 2).elementwise(.sub, Tensor([1, 5])).storage == [1, -3])
        #expect(try Tensor.zeros([0, 3]).elementwise(.add, Tensor.ones([3])).shape == [0, 3])
    }

    @Test func modPowAndUnaryMatchNumpy() throws {
        let f = fx["mod"], x = f["x"].tensor, y = f["y"].tensor
        expectClose(try x.elementwise(.mod, y), f["mod"].tensor)
        expectClose(try x.map(.abs).elementwise(.pow, y), f["pow"].tensor)
        let u = fx["unary"], ux = u["x"].tensor
        let ops: [String: UnaryOp] = ["round": .round, "sign": .sign, "exp": .exp, "abs": .abs, "tanh": .tanh, "floor": .floor, "ceil": .ceil]
        for (name, op) in ops { expectClose(ux.map(op), u[name].tensor, Comment(rawValue: name)) }
        let n = Tensor([.nan, -1, 4])
        #expect(n.map(.sqrt).storage[1].isNaN && n.map(.sqrt).storage[2] == 2)
        #expect(n.clipped(0, 1).storage[0].isNaN && n.clipped(0, 1).storage[1...] == [0, 1])
    }

    @Test(arguments: ["all", "0", "1", "2", "-1"])
    func reductionsMatchNumpy(axisName: String) throws {
        let x = fx["reduce"]["X"].tensor
        let f = fx["reduce"][axisName]
        let axis = axisName == "all" ? nil : Int(axisName)
        expectClose(try x.reduce(.sum, axis: axis), f["sum"].tensor)
        expectClose(try x.reduce(.mean, axis: axis), f["mean"].tensor)
        expectClose(try x.reduce(.variance, axis: axis), f["var"].tensor)
        expectClose(try x.reduce(.std, axis: axis, ddof: 1), f["std1"].tensor)
        expectClose(try x.reduce(.min, axis: axis), f["min"].tensor)
        expectClose(try x.reduce(.max, axis: axis), f["max"].tensor)
        expectClose(try x.reduce(.argmin, axis: axis), f["argmin"].tensor)
        expectClose(try x.reduce(.argmax, axis: axis), f["argmax"].tensor)
        expectClose(try x.reduce(.prod, axis: axis), f["prod"].tensor, rtol: 1e-4)
    }

    @Test func reductionEdgeCases() throws {
        let empty = Tensor.zeros([0])
        #expect(try empty.reduce(.sum).storage == [0])
        #expect(try empty.reduce(.mean).storage[0].isNaN)
        #expect(throws: CoreError.self) { try empty.reduce(.max) }
        #expect(throws: CoreError.self) { try Tensor.zeros([2, 2]).reduce(.sum, axis: 2) }
        let n = Tensor([1, .nan, 3])
        #expect(try n.reduce(.max).storage[0].isNaN)
        #expect(try n.reduce(.argmax).storage == [1])
        #expect(try Tensor(scalar: 5).reduce(.std).storage == [0])
        #expect(try Tensor([2]).reduce(.std, ddof: 1).storage[0].isNaN)
        // Float64 accumulation: 10⁷ × 0.1 would drift visibly in Float32.
        let big = Tensor(shape: [10_000_000], repeating: 0.1)
        expectClose(big.sum(), 1_000_000.0149011612, rtol: 1e-12)
    }

    @Test func sortArgsortTopk() throws {
        let s = fx["sort"]
        expectClose(s["x"].tensor.sorted(), s["sorted"].tensor)
        expectClose(s["x"].tensor.argsort(), s["argsort"].tensor)
        let t = fx["topk"]
        let (v, i) = try t["x"].tensor.topk(3)
        expectClose(v, t["values"].tensor)
        expectClose(i, t["indices"].tensor)
        #expect(throws: CoreError.self) { try t["x"].tensor.topk(9) }
    }

    @Test func slicingMatchesNumpy() throws {
        let f = fx["slice"], z = f["Z"].tensor
        expectClose(try z.slice([.range(start: 1, stop: 5, step: 2), .range(start: nil, stop: nil, step: -1)]), f["rows_step_rev"].tensor)
        expectClose(try z.slice([.index(-1)]), f["last_row"].tensor)
        expectClose(try z.slice([.all, .index(2)]), f["col2"].tensor)
        expectClose(try z.slice([.range(start: -3, stop: -1, step: 1), .range(start: 1, stop: -1, step: 1)]), f["neg_range"].tensor)
        expectClose(try z.slice([.range(start: nil, stop: nil, step: -2), .range(start: 4, stop: 0, step: -2)]), f["rev_step"].tensor)
        #expect(throws: CoreError.self) { try z.slice([.index(5)]) }
        #expect(throws: CoreError.self) { try z.slice([.all, .all, .all]) }
        #expect(try z.slice([.range(start: 10, stop: 20, step: 1)]).shape == [0, 6])
        #expect(try z.rows(at: [4, 0]).storage[0] == 24)
    }

    @Test func constructionAndShapes() throws {
        expectClose(Tensor.linspace(-1, 2, count: 7), fx["linspace"].tensor)
        expectClose(try Tensor.arange(0.5, 3.2, step: 0.7), fx["arange"].tensor)
        let y = fx["permute"]["Y"].tensor
        expectClose(try y.permuted([2, 0, 1]), fx["permute"]["p201"].tensor)
        let c = fx["concat"]
        let z = fx["slice"]["Z"].tensor
        expectClose(try Tensor.concat([c["a"].tensor, c["b"].tensor]), z)
        let left = try z.slice([.all, .range(start: 0, stop: 2, step: 1)]), right = try z.slice([.all, .range(start: 2, stop: nil, step: 1)])
        expectClose(try Tensor.concat([left, right], axis: 1), c["axis1"].tensor)
        expectClose(try Tensor.stack([z.slice([.index(0)]), z.slice([.index(1)])], axis: 1), c["stack1"].tensor)
        #expect(try z.reshaped([3, -1]).shape == [3, 10])
        #expect(throws: CoreError.self) { try z.reshaped([7, -1]) }
        #expect(throws: CoreError.self) { try z.reshaped([1, 1, 1, 1, 30]) }
        #expect(Tensor.eye(2, 3).storage == [1, 0, 0, 0, 1, 0])
        #expect(z.transposed.transposed == z)
        #expect(try Tensor([1, 2]).diag() == (try Tensor(rows: [[1, 0], [0, 2]])))
        // Copy-on-write: mutating a copy leaves the original alone.
        var w = z; w[0, 0] = 99
        #expect(z[0, 0] == 0 && w[0, 0] == 99)
    }
}

@Suite struct TransposeTests {
    @Test func transposeOfRank3ReversesAxes() throws {
        let y = Fixture.core["permute"]["Y"].tensor
        #expect(y.transposed == (try y.permuted([2, 1, 0])))
        #expect(y.transposed.shape == [4, 3, 2])
    }
}
