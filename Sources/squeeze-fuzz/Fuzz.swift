import Datasets
import Dispatch
import Foundation
import Plot
import Recipe
import SqueezeCore

/// What is fuzzed: the recipe pipeline (default) or one file reader (`SQUEEZE_FUZZ_TARGET` or
/// `--target NAME`): npy, npz, safetensors, gguf, idx, csv, png.
nonisolated(unsafe) var fuzzTarget = ProcessInfo.processInfo.environment["SQUEEZE_FUZZ_TARGET"] ?? "recipe"
let fuzzTargets = ["recipe", "npy", "npz", "safetensors", "gguf", "idx", "csv", "png"]

/// Runs one input through the chosen target; a diagnostic is fine, a trap is a bug.
func fuzzInput(_ bytes: UnsafeRawBufferPointer) {
    Memory.limit = 64 << 20
    switch fuzzTarget {
    case "npy": _ = try? Npy.read(Array(bytes), name: "fuzz.npy")
    case "npz": _ = try? Npz.read(Data(bytes), name: "fuzz.npz")
    case "safetensors": _ = try? Safetensors.read(Data(bytes), name: "fuzz.safetensors")
    case "gguf": _ = try? GGUF.read(Data(bytes), name: "fuzz.gguf")
    case "idx": _ = try? IDX.read(Data(bytes), name: "fuzz.idx")
    case "csv": _ = try? CSV.read(String(decoding: bytes, as: UTF8.self), name: "fuzz.csv")
    case "png": _ = try? PNGDecoder.decode(Data(bytes))
    default: fuzzOne(bytes)
    }
}

/// Runs one input through the lexer, parser and interpreter. Any Swift trap is a bug; diagnostics
/// are the expected outcome for malformed input. Each run gets 200 ms (loops poll the token) and
/// a 64 MiB memory budget.
func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    let text = String(decoding: bytes, as: UTF8.self)
    let file = SourceFile(name: "fuzz.recipe", text: text)
    let program = Parser.parse(file)
    for d in program.diagnostics { _ = d.render() }
    guard program.diagnostics.isEmpty else { return }
    Memory.limit = 64 << 20
    let token = CancellationToken()
    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(200)) { token.cancel() }
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("squeeze-fuzz-out")
    let interp = Interpreter(
        seed: 1, sandbox: Sandbox(baseDirectory: out, outputDirectory: out),
        cancellation: token
    ) { _ in }
    defer { interp.reset() }
    do { try interp.run(program) } catch let d as Diagnostic { _ = d.render() } catch {}
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // Run on the interpreter's large-stack thread, as `squeeze run` does.
    Interpreter.onLargeStack { fuzzInput(UnsafeRawBufferPointer(start: data, count: size)) }
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM links an executable's entry point under this name; hand control to libFuzzer's driver.
@_cdecl("squeeze_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var c = argc
    var v = argv
    return runFuzzerDriver(&c, &v, fuzzerTestOneInput)
}
#endif
