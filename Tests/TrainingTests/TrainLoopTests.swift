import Foundation
import Recipe
import SqueezeCore
import Testing

/// Memory over 1,000 steps is checked in a separate process by Tests/Reliability/training.py (the
/// resident set of a test process also holds what other tests allocate).
@Suite struct TrainLoopTests {
    /// Runs `text` and returns the interpreter, its output and the error (if any).
    static func run(_ text: String, cancellation: CancellationToken = CancellationToken(), onOutput: @escaping (String) -> Void = { _ in })
        -> (Interpreter, Diagnostic?)
    {
        let interp = Interpreter(
            seed: 0, sandbox: Sandbox(baseDirectory: URL(fileURLWithPath: "/tmp"), outputDirectory: nil), cancellation: cancellation,
            write: onOutput)
        interp.warnWrite = { _ in }
        let program = Parser.parse(SourceFile(name: "train.recipe", text: text))
        do {
            try interp.run(program)
            return (interp, nil)
        } catch let d as Diagnostic {
            return (interp, d)
        } catch {
            return (interp, Diagnostic(.runtime, "\(error)", at: nil))
        }
    }

    static let setup = """
        data = {X: randn(64, 3, seed: 1), y: arange(0, 64) % 2}
        loss = fn(p, X, y) {
          print("tick")
          return cross_entropy(mlp(p, X), y)
        }
        p0 = mlp_init([3, 4, 2], seed: 2)
        """

    /// Ctrl-C during training: train returns after the step in progress with the parameters of the
    /// last completed step and interrupted: true (the cancellation is raised by the 5th loss call,
    /// so no timing is involved).
    @Test func interruptionKeepsTheLastGoodParameters() throws {
        let token = CancellationToken()
        var ticks = 0
        let (interp, error) = Self.run(
            Self.setup + "\nr = train(p0, loss, data, optimizer: sgd(lr: 0.1), epochs: 5, batch: 8, seed: 1)\n",
            cancellation: token
        ) { text in
            ticks += text.components(separatedBy: "tick").count - 1
            if ticks == 5 { token.cancel() }
        }
        // The statement completes with the result; the run then stops as interrupted.
        #expect(error?.kind == .interrupted || error == nil)
        guard case .record(let r)? = interp.global("r") else {
            Issue.record("train left no result: \(String(describing: error))")
            return
        }
        #expect(r["interrupted"].map { if case .bool(true) = $0 { return true }; return false } == true)
        let steps = r["steps"]?.asNumber ?? -1
        #expect(steps == 4 || steps == 5)
        // The history holds exactly the completed steps, and the parameters are those after the last of them:
        // the same steps run without interruption (one epoch cut to the same batches) give the same loss curve.
        guard case .record(let h)? = r["history"], case .tensor(let losses)? = h["loss"] else {
            Issue.record("no history")
            return
        }
        #expect(Double(losses.count) == steps)
        let (again, e2) = Self.run(Self.setup + "\nr = train(p0, loss, data, optimizer: sgd(lr: 0.1), epochs: 1, batch: 8, seed: 1)\n")
        #expect(e2 == nil)
        guard case .record(let full)? = again.global("r"), case .record(let fh)? = full["history"], case .tensor(let all)? = fh["loss"] else {
            Issue.record("no uninterrupted history")
            return
        }
        #expect(Array(all.storage.prefix(losses.count)) == losses.storage)
    }
}
