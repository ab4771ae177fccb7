#if !FUZZING
import Foundation
import Recipe

/// Without libFuzzer (a normal build): replay the files or folders given as arguments, the way
/// the test suite checks that the committed corpus still runs clean.
@main
struct Replay {
    static func main() {
        var count = 0
        var args = Array(CommandLine.arguments.dropFirst())
        if args.first == "--target", args.count >= 2 {
            guard fuzzTargets.contains(args[1]) else {
                print("unknown target \(args[1]); one of \(fuzzTargets.joined(separator: ", "))")
                exit(64)
            }
            fuzzTarget = args[1]
            args.removeFirst(2)
        }
        for arg in args {
            var files: [URL] = []
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: arg, isDirectory: &isDir), isDir.boolValue {
                files = (try? FileManager.default.contentsOfDirectory(at: URL(fileURLWithPath: arg), includingPropertiesForKeys: nil)) ?? []
            } else {
                files = [URL(fileURLWithPath: arg)]
            }
            for f in files.sorted(by: { $0.path < $1.path }) {
                guard let data = FileManager.default.contents(atPath: f.path) else { continue }
                Interpreter.onLargeStack { data.withUnsafeBytes { fuzzInput($0) } }
                count += 1
            }
        }
        print("replayed \(count) \(fuzzTarget) inputs without a crash")
    }
}
#endif
