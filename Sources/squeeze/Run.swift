import ArgumentParser
import Foundation
import Recipe
import SqueezeCore

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a recipe top to bottom in a fresh interpreter.",
        discussion: """
        Relative paths in the recipe are read against the recipe's directory; files are written only \
        under --out (default: the recipe's directory) and --allow-write directories.
        Exit codes: 0 success, 64 usage, 65 recipe (syntax) error, 70 runtime error, 130 interrupted.
        """)

    @Argument(help: "The recipe file (.recipe).")
    var file: String

    @Option(name: .customShort("p"), parsing: .unconditionalSingleValue, help: ArgumentHelp("Override a parameter: -p name=value (repeatable).", valueName: "name=value"))
    var parameters: [String] = []

    @Option(help: "Seed of the run's random generator (default: drawn and recorded).")
    var seed: UInt64?

    @Option(help: "Directory the recipe writes into (default: the recipe's directory).")
    var out: String?

    @Option(name: .customLong("allow-write"), help: "Also allow writes under this directory (repeatable).")
    var allowWrite: [String] = []

    func run() throws {
        let url = URL(fileURLWithPath: file)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            FileHandle.standardError.write(Data("squeeze: cannot read '\(file)': no such file or not readable\n".utf8))
            throw ExitCode(Exit.usage)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            FileHandle.standardError.write(Data("squeeze: '\(file)' is not UTF-8 text\n".utf8))
            throw ExitCode(Exit.usage)
        }
        var overrides: [String: Value] = [:]
        for p in parameters {
            guard let eq = p.firstIndex(of: "="), eq != p.startIndex else {
                FileHandle.standardError.write(Data("squeeze: -p expects name=value, got '\(p)'\n".utf8))
                throw ExitCode(Exit.usage)
            }
            let name = String(p[..<eq]).trimmingCharacters(in: .whitespaces)
            overrides[name] = Literal.parse(String(p[p.index(after: eq)...]), name: name)
        }
        let outDir = out.map { URL(fileURLWithPath: $0) } ?? url.deletingLastPathComponent()
        if out != nil {
            do { try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true) } catch {
                FileHandle.standardError.write(Data("squeeze: cannot create --out directory '\(outDir.path)': \(error.localizedDescription)\n".utf8))
                throw ExitCode(Exit.usage)
            }
        }
        let sandbox = Sandbox(baseDirectory: url.deletingLastPathComponent(), outputDirectory: outDir,
                              allowedWriteDirectories: allowWrite.map { URL(fileURLWithPath: $0) })
        let source = SourceFile(name: file, text: text)
        let status = RecipeRunner.run(source: source, seed: seed, overrides: overrides, sandbox: sandbox)
        if status != 0 { throw ExitCode(status) }
    }
}

/// Parses and runs one recipe on a thread with a large stack (deeply nested recipes and recursion
/// then fail with a diagnostic, never a stack overflow), rendering every diagnostic to stderr.
enum RecipeRunner {
    static func run(source: SourceFile, seed: UInt64?, overrides: [String: Value], sandbox: Sandbox,
                    observer: RunObserver? = nil) -> Int32 {
        Interpreter.onLargeStack {
            runHere(source: source, seed: seed, overrides: overrides, sandbox: sandbox, observer: observer)
        }
    }

    static func runHere(source: SourceFile, seed: UInt64?, overrides: [String: Value], sandbox: Sandbox,
                        observer: RunObserver?) -> Int32 {
        let program = Parser.parse(source)
        if !program.diagnostics.isEmpty {
            for d in program.diagnostics { stderr(d.render()) }
            let n = program.diagnostics.count
            stderr("\(n) syntax error\(n == 1 ? "" : "s"); nothing was run\n")
            return Exit.recipe
        }
        let declared = Interpreter.parameterNames(program)
        for name in overrides.keys where !declared.contains(name) {
            let hint = Suggest.didYouMean(name, in: declared).map { "; \($0)" } ?? (declared.isEmpty ? "; the recipe declares no parameters" : "; parameters: \(declared.joined(separator: ", "))")
            stderr("squeeze: -p \(name): the recipe has no parameter '\(name)'\(hint)\n")
            return Exit.usage
        }
        let interp = Interpreter(seed: seed, sandbox: sandbox, parameterOverrides: overrides) { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        interp.observer = observer
        observer?.seed(interp.seed)
        do {
            try interp.run(program)
            return 0
        } catch let d as Diagnostic {
            stderr(d.render())
            return d.kind == .interrupted ? Exit.interrupted : Exit.runtime
        } catch {
            stderr("error: \(error)\n")
            return Exit.runtime
        }
    }

    static func stderr(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}
