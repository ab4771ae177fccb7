import Foundation
import OrderedCollections
import Recipe
import SqueezeCore
import Testing
import TestSupport

/// A recipe's training loop (value_and_grad + an optimizer) against PyTorch's, step by step, from the
/// same initial parameters, batch order and hyper-parameters (Fixtures/make_training_fixtures.py):
/// the loss of each of the first 10 steps within 1e-4 relative, of all 100 within 1e-3, and the
/// final parameters within 1e-3 (absolute, plus 1e-3 relative).
@Suite struct TrajectoryTests {
    static let fixture = Fixture.load("training", script: "make_training_fixtures.py", bundle: .module)

    static let mlp = "fn forward(p, X) { return relu(X @ p.W1 + p.b1) @ p.W2 + p.b2 }"
    static let cnn = """
        fn forward(p, X) {
          h = max_pool(relu(conv2d(X, p.c, p.cb, padding: 1)), size: 2)
          return reshape(h, [shape(h)[0], 64]) @ p.W + p.b
        }
        """

    static func run(_ name: String, network: String, optimizer: String) throws -> (losses: [Double], params: Record) {
        let f = fixture[name]
        let text = """
            \(network)
            loss = fn(p, X, y) { return cross_entropy(forward(p, X), y) }
            vg = value_and_grad(loss)
            opt = \(optimizer)
            s = opt.init(p)
            losses = []
            for k in range(100) {
              idx = order[k]
              r = vg(p, X[idx], y[idx])
              u = opt.step(p, r.grad, s)
              p = u.params
              s = u.state
              losses = append(losses, r.value)
            }
            """
        let interp = Interpreter(seed: 0, sandbox: Sandbox(baseDirectory: URL(fileURLWithPath: "/tmp"), outputDirectory: nil)) { _ in }
        let shape = f["X_shape"].doubles.map { Int($0) }
        interp.setGlobal("X", .tensor(Tensor(shape: shape, storage: f["X"].doubles.map { Float($0) })))
        interp.setGlobal("y", .tensor(Tensor(f["y"].doubles.map { Float($0) })))
        let order = (f["order"].value as? [[Any]] ?? []).map { $0.map { Float(Fixture.number($0)) } }
        interp.setGlobal("order", .tensor(try Tensor(rows: order)))
        var p = OrderedDictionary<String, Value>()
        for key in (f["init"].value as? [String: Any] ?? [:]).keys.sorted() { p[key] = .tensor(f["init"][key].tensor) }
        interp.setGlobal("p", .record(Record(p)))
        let program = Parser.parse(SourceFile(name: "trajectory.recipe", text: text))
        #expect(program.diagnostics.isEmpty)
        try interp.run(program)
        guard case .list(let l)? = interp.global("losses"), case .record(let final)? = interp.global("p") else {
            Issue.record("the recipe left no losses or parameters")
            return ([], Record())
        }
        return (l.compactMap(\.asNumber), final)
    }

    @Test(arguments: [
        ("mlp_sgd", mlp, "sgd(lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-4)"),
        ("mlp_adamw", mlp, "adam(lr: 0.01, weight_decay: 0.01)"),
        ("cnn_adam", cnn, "adam(lr: 0.01, weight_decay: 1e-3, decoupled: false)"),
        ("cnn_sgd", cnn, "sgd(lr: 0.05, momentum: 0.9)"),
    ])
    func followsPyTorch(_ name: String, _ network: String, _ optimizer: String) throws {
        let (losses, params) = try Self.run(name, network: network, optimizer: optimizer)
        let reference = Self.fixture[name]["losses"].doubles
        #expect(losses.count == 100 && reference.count == 100)
        for (k, (a, b)) in zip(losses, reference).enumerated() {
            let tol = k < 10 ? 1e-4 : 1e-3
            #expect(abs(a - b) <= tol * max(abs(b), 1e-3), "\(name) step \(k + 1): loss \(a) vs PyTorch \(b)")
        }
        for (key, value) in params.fields {
            guard case .tensor(let t) = value else { Issue.record("\(key) is not a tensor"); continue }
            expectClose(t, Self.fixture[name]["final"][key].tensor, rtol: 1e-3, atol: 1e-3, "\(name) final \(key)")
        }
    }
}
