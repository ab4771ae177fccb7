import Foundation
import SqueezeCore
import Testing
import Training

/// Every differentiable operation's gradient against central finite differences. The check is the
/// directional derivative: for L(x) = Σ f(x) ⊙ R with a random R, ⟨∇L, v⟩ must equal
/// (L(x + hv) − L(x − hv))/2h for random directions v. L is accumulated in Float64 (the tape's sum),
/// so Float32 inputs with h = 1e-2 leave O(h²) ≈ 1e-4 relative truncation error: tolerance 2e-3 of
/// the derivative's scale.
struct GradientCheck {
    var rng = RandomGenerator(seed: 7)

    /// Checks f's gradient with respect to each of `inputs`.
    mutating func check(
        _ name: String, _ inputs: [Tensor], h: Float = 1e-2, tolerance: Double = 2e-3,
        sourceLocation: SourceLocation = #_sourceLocation, _ f: (Tape, [Operand]) throws -> Operand
    ) throws {
        let probe = try f(Tape(), inputs.map { Operand(constant: $0) }).value
        let R = Tensor.randn(probe.shape, using: &rng)
        func loss(_ xs: [Tensor]) throws -> Double {
            let y = try f(Tape(), xs.map { Operand(constant: $0) }).value
            return zip(y.storage, R.storage).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        let tape = Tape()
        let vars = inputs.map { tape.variable($0) }
        let y = try f(tape, vars)
        let L = try tape.reduce(.sum, try tape.binary(.mul, y, Operand(constant: R)), axis: nil)
        let grads = try tape.gradients(of: L)
        for (k, x) in inputs.enumerated() {
            let g = grads[vars[k].node!] ?? Tensor.zeros(x.shape)
            #expect(g.shape == x.shape, "\(name): gradient shape", sourceLocation: sourceLocation)
            for _ in 0..<3 {
                let v = Tensor.randn(x.shape, using: &rng)
                var plus = inputs, minus = inputs
                plus[k] = try x + v.elementwise(.mul, scalar: h)
                minus[k] = try x - v.elementwise(.mul, scalar: h)
                let numeric = (try loss(plus) - loss(minus)) / (2 * Double(h))
                let analytic = g.dot(v)
                let scale = max(1, abs(numeric), try g.norm() * v.norm() / Double(max(x.count, 1)).squareRoot())
                #expect(
                    abs(numeric - analytic) <= tolerance * scale,
                    "\(name), input \(k): finite difference \(numeric) vs gradient \(analytic)", sourceLocation: sourceLocation)
            }
        }
    }

    mutating func randn(_ shape: [Int], scale: Float = 1) -> Tensor { Tensor.randn(shape, using: &rng, std: scale) }

    /// Distinct values 0.05 apart in a random order: no ties within a max's finite-difference step.
    mutating func spaced(_ shape: [Int]) -> Tensor {
        let n = Shape.count(shape) ?? 0
        return Tensor(shape: shape, storage: rng.permutation(n).map { Float($0 - n / 2) * 0.05 })
    }

    /// Values bounded away from 0 (for log, sqrt, division, abs and relu's kink).
    mutating func positive(_ shape: [Int]) -> Tensor { Tensor.rand(shape, using: &rng, low: 0.5, high: 2) }
}

@Suite struct GradientTests {
    @Test func arithmeticWithBroadcasting() throws {
        var c = GradientCheck()
        let a = c.randn([3, 4]), row = c.randn([4]), col = c.randn([3, 1]), s = c.randn([])
        let pa = c.positive([3, 4]), prow = c.positive([4])
        for (name, op) in [("add", BinaryOp.add), ("sub", .sub), ("mul", .mul)] {
            try c.check("\(name) same shape", [a, c.randn([3, 4])]) { t, x in try t.binary(op, x[0], x[1]) }
            try c.check("\(name) row", [a, row]) { t, x in try t.binary(op, x[0], x[1]) }
            try c.check("\(name) column", [col, a]) { t, x in try t.binary(op, x[0], x[1]) }
            try c.check("\(name) scalar", [s, a]) { t, x in try t.binary(op, x[0], x[1]) }
        }
        try c.check("div", [a, pa]) { t, x in try t.binary(.div, x[0], x[1]) }
        try c.check("div broadcast", [a, prow]) { t, x in try t.binary(.div, x[0], x[1]) }
        try c.check("pow", [pa, c.randn([4], scale: 0.5)]) { t, x in try t.binary(.pow, x[0], x[1]) }
        try c.check("pow by constant", [a]) { t, x in try t.binary(.pow, x[0], Operand(constant: Tensor(scalar: 2))) }
    }

    @Test func comparisonsAreConstants() throws {
        let t = Tape()
        let x = t.variable(Tensor([1, 2, 3]))
        let y = try t.binary(.gt, x, Operand(constant: Tensor(scalar: 2)))
        #expect(y.isConstant && y.value.storage == [0, 0, 1])
        #expect(throws: CoreError.self) { try t.binary(.mod, x, Operand(constant: Tensor(scalar: 2))) }
    }

    @Test func elementwiseFunctions() throws {
        var c = GradientCheck()
        let x = c.randn([4, 5]), p = c.positive([4, 5])
        for f in [Elementwise.neg, .exp, .tanh, .sigmoid, .square, .sin, .cos, .gelu] {
            try c.check(f.rawValue, [x]) { t, v in t.apply(f, v[0]) }
        }
        for f in [Elementwise.log, .sqrt] { try c.check(f.rawValue, [p]) { t, v in t.apply(f, v[0]) } }
        // relu and abs away from their kink.
        let signed = try p.elementwise(.mul, Tensor(shape: [4, 5], storage: (0..<20).map { $0 % 3 == 0 ? -1 : 1 }))
        for f in [Elementwise.relu, .abs] { try c.check(f.rawValue, [signed]) { t, v in t.apply(f, v[0]) } }
        try c.check("clip", [signed]) { t, v in t.clip(v[0], -1.2, 1.4) }
    }

    @Test func straightThroughRounding() throws {
        let t = Tape()
        let x = t.variable(Tensor([0.4, 1.5, 2.5, -0.6]))
        let y = t.apply(.roundSTE, x)
        #expect(y.value.storage == [0, 2, 2, -1])
        let g = try t.gradients(of: try t.reduce(.sum, try t.binary(.mul, y, Operand(constant: Tensor([1, 2, 3, 4]))), axis: nil))
        #expect(g[x.node!]!.storage == [1, 2, 3, 4])
    }

    @Test func select() throws {
        var c = GradientCheck()
        let cond = Tensor(shape: [3, 4], storage: (0..<12).map { Float($0 % 2) })
        try c.check("where", [c.randn([3, 4]), c.randn([4])]) { t, x in try t.select(cond, x[0], x[1]) }
    }

    @Test func reductions() throws {
        var c = GradientCheck()
        let x = c.randn([3, 4, 5])
        for kind in [Reduction.sum, .mean] {
            try c.check("\(kind) all", [x]) { t, v in try t.reduce(kind, v[0], axis: nil) }
            for axis in [0, 1, -1] { try c.check("\(kind) axis \(axis)", [x]) { t, v in try t.reduce(kind, v[0], axis: axis) } }
        }
        // max and min are not differentiable at ties: distinct values, and a step well inside their gaps.
        let s = c.spaced([3, 4, 5])
        for kind in [Reduction.max, .min] {
            try c.check("\(kind) all", [s], h: 1e-3) { t, v in try t.reduce(kind, v[0], axis: nil) }
            for axis in [0, 1, -1] { try c.check("\(kind) axis \(axis)", [s], h: 1e-3) { t, v in try t.reduce(kind, v[0], axis: axis) } }
        }
    }

    @Test func softmaxFamily() throws {
        var c = GradientCheck()
        let x = c.randn([4, 6], scale: 2)
        for axis in [0, 1] {
            try c.check("softmax \(axis)", [x]) { t, v in try t.softmax(v[0], axis: axis) }
            try c.check("log_softmax \(axis)", [x]) { t, v in try t.logSoftmax(v[0], axis: axis) }
        }
        try c.check("cross_entropy", [x]) { t, v in try t.crossEntropy(v[0], labels: [0, 5, 2, 2]) }
        try c.check("mse", [x, c.randn([6])]) { t, v in try t.mse(v[0], v[1]) }
    }

    @Test func crossEntropyMatchesItsDefinition() throws {
        // Logits [[2, 0], [0, 2]] with labels [0, 1]: −log(e²/(e² + 1)) each.
        let t = Tape()
        let y = try t.crossEntropy(Operand(constant: Tensor(shape: [2, 2], storage: [2, 0, 0, 2])), labels: [0, 1])
        #expect(abs(Double(y.value.storage[0]) - log1p(exp(-2.0))) < 1e-6)
        #expect(throws: CoreError.self) { try t.crossEntropy(Operand(constant: Tensor.zeros([2, 2])), labels: [0, 2]) }
        // Huge logits stay finite (max-subtracted).
        let big = try t.crossEntropy(Operand(constant: Tensor(shape: [1, 2], storage: [1000, 0])), labels: [1])
        #expect(big.value.storage[0] == 1000)
    }

    @Test func products() throws {
        var c = GradientCheck()
        try c.check("matrix @ matrix", [c.randn([3, 4]), c.randn([4, 2])]) { t, x in try t.matmul(x[0], x[1]) }
        try c.check("vector @ matrix", [c.randn([4]), c.randn([4, 2])]) { t, x in try t.matmul(x[0], x[1]) }
        try c.check("matrix @ vector", [c.randn([3, 4]), c.randn([4])]) { t, x in try t.matmul(x[0], x[1]) }
        try c.check("vector @ vector", [c.randn([4]), c.randn([4])]) { t, x in try t.matmul(x[0], x[1]) }
        try c.check("1×1", [c.randn([1, 1]), c.randn([1, 1])]) { t, x in try t.matmul(x[0], x[1]) }
    }

    @Test func shapes() throws {
        var c = GradientCheck()
        let x = c.randn([3, 4, 2])
        try c.check("reshape", [x]) { t, v in try t.reshape(v[0], [4, 6]) }
        try c.check("permute", [x]) { t, v in try t.permute(v[0], [2, 0, 1]) }
        try c.check("transpose", [c.randn([3, 5])]) { t, v in try t.permute(v[0], nil) }
        try c.check("slice", [x]) { t, v in try t.slice(v[0], [.range(start: 2, stop: nil, step: -2), .index(1)]) }
        try c.check("slice step", [x]) { t, v in try t.slice(v[0], [.all, .range(start: 0, stop: 4, step: 3)]) }
        try c.check("rows with repeats", [x]) { t, v in try t.rows(v[0], [2, 0, 2]) }
        try c.check("concat", [c.randn([2, 3]), c.randn([2, 5])]) { t, v in try t.concat(v, axis: 1) }
        try c.check("stack", [c.randn([2, 3]), c.randn([2, 3])]) { t, v in try t.stack(v, axis: 1) }
    }

    @Test func normAndLogDeterminant() throws {
        var c = GradientCheck()
        try c.check("norm", [c.randn([3, 4])]) { t, v in try t.norm(v[0]) }
        let a = c.randn([4, 4], scale: 0.3)
        let spd = try Tensor.eye(4) + Tensor.gemm(a, a, transB: true)
        try c.check("logdet", [spd]) { t, v in try t.logAbsDet(v[0]).value }
        try c.check("logabsdet of a general matrix", [try Tensor.eye(4).elementwise(.mul, scalar: -1) + a]) { t, v in
            try t.logAbsDet(v[0]).value
        }
        // At zero the norm's gradient is zero (PyTorch's subgradient), not NaN.
        let t = Tape()
        let z = t.variable(Tensor.zeros([3]))
        #expect(try t.gradients(of: try t.norm(z))[z.node!]!.storage == [0, 0, 0])
    }

    @Test func convolutionAndPooling() throws {
        var c = GradientCheck()
        let x = c.randn([2, 3, 7, 6]), w = c.randn([4, 3, 3, 2]), b = c.randn([4])
        for (stride, padding) in [(1, 0), (2, 1), (3, 2)] {
            try c.check("conv2d s\(stride) p\(padding)", [x, w, b]) { t, v in
                try t.conv2d(v[0], v[1], v[2], stride: stride, padding: padding)
            }
        }
        try c.check("conv2d without bias", [x, w]) { t, v in try t.conv2d(v[0], v[1], nil, stride: 1, padding: 1) }
        let s = c.spaced([2, 3, 7, 6])
        try c.check("max_pool", [s], h: 1e-3) { t, v in try t.pool(v[0], size: 2, stride: 2, max: true) }
        try c.check("max_pool overlapping", [s], h: 1e-3) { t, v in try t.pool(v[0], size: 3, stride: 1, max: true) }
        try c.check("avg_pool", [x]) { t, v in try t.pool(v[0], size: 2, stride: 1, max: false) }
    }

    @Test func maxPoolingTiesAndNaN() throws {
        // 2×2 windows (the fast path) and 3×3 (the general one): ties send the gradient to the first
        // largest element; a NaN wins its window and gets the gradient, as PyTorch's max_pool2d.
        let x = Tensor(shape: [1, 1, 4, 4], storage: [1, 5, 2, 2, 5, 0, 2, 2, .nan, 3, -.infinity, .infinity, 3, 9, 1, 1])
        for (size, stride) in [(2, 2), (3, 1)] {
            let t = Tape()
            let v = t.variable(x)
            let y = try t.pool(v, size: size, stride: stride, max: true)
            let g = try t.gradients(of: try t.reduce(.sum, y, axis: nil))[v.node!]!
            if size == 2 {
                #expect(y.value.storage[0] == 5 && y.value.storage[1] == 2 && y.value.storage[2].isNaN && y.value.storage[3] == .infinity)
                #expect(g.storage == [0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0])
            } else {
                #expect(y.value.storage[0].isNaN && y.value.storage[2].isNaN && y.value.storage[1] == .infinity)
                #expect(g[0, 0, 2, 0] == 2 && g[0, 0, 2, 3] == 2 && g.storage.reduce(0, +) == 4)
            }
        }
    }

    @Test func convolutionMatchesDirectSum() throws {
        var rng = RandomGenerator(seed: 3)
        let x = Tensor.randn([2, 2, 5, 4], using: &rng), w = Tensor.randn([3, 2, 3, 3], using: &rng), b = Tensor([0.5, -1, 2])
        let y = try Tape().conv2d(Operand(constant: x), Operand(constant: w), Operand(constant: b), stride: 2, padding: 1).value
        #expect(y.shape == [2, 3, 3, 2])
        for n in 0..<2 {
            for o in 0..<3 {
                for i in 0..<3 {
                    for j in 0..<2 {
                        var s = Double(b[o])
                        for ch in 0..<2 {
                            for di in 0..<3 {
                                for dj in 0..<3 {
                                    let r = i * 2 + di - 1, q = j * 2 + dj - 1
                                    if r >= 0 && r < 5 && q >= 0 && q < 4 { s += Double(x[n, ch, r, q]) * Double(w[o, ch, di, dj]) }
                                }
                            }
                        }
                        #expect(abs(Double(y[n, o, i, j]) - s) < 1e-5)
                    }
                }
            }
        }
    }

    @Test func gradientsAccumulateOverReuseAndSkipConstants() throws {
        let t = Tape()
        let x = t.variable(Tensor([1, 2]))
        let c = Operand(constant: Tensor([3, 4]))
        // L = Σ (x·x + x·c) → ∂L/∂x = 2x + c.
        let L = try t.reduce(.sum, try t.binary(.add, try t.binary(.mul, x, x), try t.binary(.mul, x, c)), axis: nil)
        #expect(try t.gradients(of: L)[x.node!]!.storage == [5, 8])
        // A result that does not depend on a variable is a constant; its gradient is empty.
        let k = try t.binary(.mul, c, c)
        #expect(k.isConstant && t.count == 5)
        #expect(try t.gradients(of: Operand(constant: Tensor(scalar: 1))).isEmpty)
        // The gradient needs a one-element result.
        #expect(throws: CoreError.self) { try t.gradients(of: x) }
    }

    @Test func closingTheTapeReleasesItsNodes() throws {
        let t = Tape()
        let x = t.variable(Tensor.ones([100]))
        _ = t.apply(.exp, x)
        #expect(t.count == 2 && t.isOpen)
        t.close()
        #expect(t.count == 0 && !t.isOpen)
    }
}
