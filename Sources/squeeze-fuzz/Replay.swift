#if !FUZZING
import Foundation
import Recipe

/// Without libFuzzer (a normal build): replay the files or folders given as arguments, the way
/// the test suite checks that the committed corpus still runs clean.
@main
struct Replay {
    static func main() {
        var count = 0
        for arg in CommandLine.arguments.dropFirst() {
            var files: [URL] = []
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: arg, isDirectory: &isDir), isDir.boolValue {
                files = (try? FileManager.default.contentsOfDirectory(at: URL(fileURLWithPath: arg), includingPropertiesForKeys: nil)) ?? []
            } else {
                files = [URL(fileURLWithPath: arg)]
            }
            for f in files.sorted(by: { $0.path < $1.path }) {
                guard let data = FileManager.default.contents(atPath: f.path) else { continue }
                Interpreter.onLargeStack { data.withUnsafeBytes { fuzzOne($0) } }
                count += 1
            }
        }
        print("replayed \(count) inputs without a crash")
    }
}
#endif
