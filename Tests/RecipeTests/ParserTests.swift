import Foundation
import Recipe
import Testing

/// The parser's contract with the REPL: running out of input is "incomplete", not an error.
@Suite struct ParserTests {
    func parse(_ s: String) -> Program { Parser.parse(SourceFile(name: "t", text: s)) }

    @Test(arguments: ["fn f(x) {", "if true {\n  print(1)", "x = [1, 2,", "y = (3 +", "s = \"open", "z = 1 +", "a = {b: 1,", "for i in range(3) {"])
    func incompleteInputIsReportedAsSuch(_ text: String) {
        let p = parse(text)
        #expect(!p.diagnostics.isEmpty)
        #expect(p.isIncomplete, "\(p.diagnostics.map { $0.render() })")
    }

    @Test(arguments: ["x = 1 2", "print(1))", "fn (", "x = 3 $ 4"])
    func realErrorsAreNotIncomplete(_ text: String) {
        let p = parse(text + "\n")
        #expect(!p.diagnostics.isEmpty && !(p.isIncomplete && text != "fn ("))
    }

    @Test func cellsAreRecorded() {
        let p = parse("a = 1\n# %% Load data\nb = 2\n#%%\nc = 3\n")
        #expect(p.cells.map(\.line) == [2, 4])
        #expect(p.cells.map(\.title) == ["Load data", ""])
        #expect(p.statements.count == 3)
    }

    @Test func nestingIsBoundedNotACrash() {
        let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        let p = Interpreter.onLargeStack { parse(deep) }
        #expect(p.diagnostics.isEmpty || p.diagnostics[0].message.contains("nested too deeply"))
    }
}

@Suite struct ExampleTests {
    @Test func examplesRun() throws {
        let dir = CLI.package.appendingPathComponent("Examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".recipe") }
        #expect(files.contains("quickstart.recipe"))
        for f in files {
            let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-ex-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: out) }
            // Every example must parse; the quick ones also run here (in a debug build). Scripts/test
            // runs all of them through the release binary, as a user would.
            let program = Parser.parse(SourceFile(name: f, text: text))
            #expect(program.diagnostics.isEmpty, "\(f): \(program.diagnostics.first?.render() ?? "")")
            guard ["quickstart.recipe", "sweep.recipe"].contains(f) else { continue }
            let (output, error) = Golden.run(text, name: f, outDir: out)
            #expect(error == nil, "\(f): \(error?.render() ?? "")")
            #expect(!output.isEmpty)
        }
    }
}
