import Foundation
import REPL
import Recipe
import Testing

@Suite struct CompletionTests {
    func session(_ setup: String) throws -> Interpreter {
        let i = Interpreter(seed: 0, sandbox: Sandbox(baseDirectory: FileManager.default.temporaryDirectory)) { _ in }
        try i.run(Parser.parse(SourceFile(name: "t", text: setup)))
        return i
    }

    func complete(_ line: String, _ s: Interpreter) -> [String] {
        // The word being completed starts after the last break character, as readline splits it.
        let breaks = Set(" \t\n\"\\'`@$><=;|&{([,+-*/%.:".utf8)
        let bytes = Array(line.utf8)
        var start = bytes.count
        while start > 0 && !breaks.contains(bytes[start - 1]) { start -= 1 }
        let text = String(decoding: bytes[start...], as: UTF8.self)
        return Completion.candidates(line: line, start: start, text: text, session: s)
    }

    @Test func operationsAndVariables() throws {
        let s = try session("weights = eye(2)\nwidth = 3\n")
        #expect(complete("sv", s) == ["svd"])
        #expect(complete("x = wei", s) == ["weights"])
        #expect(complete("wi", s) == ["width"])
        #expect(complete("wh", s) == ["where", "while"])
    }

    @Test func recordFieldsAfterDot() throws {
        let s = try session("r = svd(eye(3))\nnested = {inner: {deep: 1}}\n")
        #expect(complete("r.", s) == ["U", "S", "Vt"])
        #expect(complete("print(r.V", s) == ["Vt"])
        #expect(complete("nested.inner.d", s) == ["deep"])
        #expect(complete("eye(2).", s) == [])
    }

    @Test func namedArgumentsInsideACall() throws {
        let s = try session("fn scale(x, factor: 2) { return x * factor }\n")
        // Named arguments come first; names that could also be passed follow.
        #expect(complete("randn(3, 3, se", s) == ["seed:", "seed", "sentences"])
        #expect(complete("svd(A, ra", s) == ["rank:", "rand", "randint", "randn", "range", "rate_reduction"])
        #expect(complete("scale(1, fa", s) == ["factor:", "false"])
        #expect(complete("norm(svd(A).S, or", s).first == "ord:")
    }

    @Test func commandsAndStrings() throws {
        let s = try session("")
        #expect(complete(":sa", s) == ["save"])
        #expect(complete(":", s).count == 9)
        #expect(Completion.insideString(line: "load(\"da", start: 6))
        #expect(!Completion.insideString(line: "load(\"a\", x", start: 10))
    }
}
