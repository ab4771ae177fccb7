import Foundation
import Recipe
import Testing

/// Runs `Tests/Recipes/**/*.recipe`. A file holds cases separated by `# ---` lines; each case runs
/// in a fresh interpreter (seed 0) and its output must equal its `# expect: line` comments in
/// order. A case with `# expect error: text` must fail with a diagnostic whose first line contains
/// `text`; when that comment trails code, the error must point at that line.
struct GoldenCase: CustomTestStringConvertible, Sendable {
    let file: String
    let firstLine: Int
    let text: String
    var testDescription: String { "\(file):\(firstLine)" }
}

enum Golden {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Recipes")

    static func cases() -> [GoldenCase] {
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        var out: [GoldenCase] = []
        for case let url as URL in walker where url.pathExtension == "recipe" {
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            let rel = String(url.path.dropFirst(root.path.count + 1))
            var lines: [String] = []
            var start = 1
            for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if line.trimmingCharacters(in: .whitespaces) == "# ---" {
                    out.append(GoldenCase(file: rel, firstLine: start, text: lines.joined(separator: "\n")))
                    start = i + 2
                    // Keep line numbers: pad the next case with empty lines.
                    lines = Array(repeating: "", count: i + 1)
                } else {
                    lines.append(String(line))
                }
            }
            out.append(GoldenCase(file: rel, firstLine: start, text: lines.joined(separator: "\n")))
        }
        return out.sorted { ($0.file, $0.firstLine) < ($1.file, $1.firstLine) }
    }

    struct Expectations {
        var output: [String] = []
        var error: (text: String, line: Int?)?
    }

    static func expectations(_ text: String) -> Expectations {
        var e = Expectations()
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let r = line.range(of: "# expect error: ") {
                let code = line[..<r.lowerBound].trimmingCharacters(in: .whitespaces)
                e.error = (String(line[r.upperBound...]), code.isEmpty ? nil : i + 1)
            } else if let r = line.range(of: "# expect: ") {
                e.output.append(String(line[r.upperBound...]))
            } else if line.hasSuffix("# expect:") {
                e.output.append("")
            }
        }
        return e
    }

    /// Output lines and the diagnostic (if any) of running `text`.
    static func run(_ text: String, name: String, outDir: URL) -> (output: [String], error: Diagnostic?) {
        Interpreter.onLargeStack {
            let file = SourceFile(name: name, text: text)
            let program = Parser.parse(file)
            var output = ""
            if let first = program.diagnostics.first { return ([], first) }
            let interp = Interpreter(seed: 0, sandbox: Sandbox(baseDirectory: root, outputDirectory: outDir)) { output += $0 }
            do {
                try interp.run(program)
                return (lines(output), nil)
            } catch let d as Diagnostic {
                return (lines(output), d)
            } catch {
                return (lines(output), Diagnostic(.runtime, "non-diagnostic error \(error)", at: nil))
            }
        }
    }

    static func lines(_ s: String) -> [String] {
        var l = s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if l.last == "" { l.removeLast() }
        return l
    }
}

@Suite struct GoldenRecipeTests {
    @Test(arguments: Golden.cases())
    func golden(_ c: GoldenCase) throws {
        let expected = Golden.expectations(c.text)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-golden-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        let (output, error) = Golden.run(c.text, name: c.file, outDir: out)
        #expect(expected.output.count > 0 || expected.error != nil, "case has no expectations")
        if let (text, line) = expected.error {
            guard let error else {
                Issue.record("expected error containing '\(text)', but the case succeeded; output: \(output)")
                return
            }
            let first = error.render().split(separator: "\n").first.map(String.init) ?? ""
            #expect(first.contains(text), "diagnostic was: \(error.render())")
            if let line, let span = error.span { #expect(span.line == line, "error at line \(span.line), expected \(line): \(error.render())") }
            #expect(Array(output.prefix(expected.output.count)) == expected.output)
        } else {
            #expect(error == nil, "unexpected error: \(error?.render() ?? "")")
            #expect(output == expected.output)
        }
    }

    @Test func thereAreAtLeast150Cases() {
        let n = Golden.cases().reduce(0) { total, c in
            let e = Golden.expectations(c.text)
            return total + e.output.count + (e.error == nil ? 0 : 1)
        }
        #expect(n >= 150, "only \(n) golden expectations")
    }
}
