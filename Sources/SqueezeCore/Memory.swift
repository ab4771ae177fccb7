import Foundation
import Synchronization

/// The memory budget for user-sized results: an operation that would allocate more fails at once
/// with a clear error instead of the process being killed. Default: 80% of physical memory.
public enum Memory {
    private static let limitBytes = Atomic<Int>(Int(Double(ProcessInfo.processInfo.physicalMemory) * 0.8))

    /// Bytes one result may take.
    public static var limit: Int {
        get { limitBytes.load(ordering: .relaxed) }
        set { limitBytes.store(max(0, newValue), ordering: .relaxed) }
    }

    /// Parses a size such as "2G", "512M", "64k" or a byte count (case-insensitive; powers of 1024).
    public static func parse(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased().replacingOccurrences(of: "IB", with: "").replacingOccurrences(
            of: "B", with: "")
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var scale = 1, number = Substring(t)
        if let u = t.last, let s = units[u] { (scale, number) = (s, t.dropLast()) }
        // Checked in Double first: a size past Int.max (say 10⁹T) is refused, not trapped on.
        guard let v = Double(number.trimmingCharacters(in: .whitespaces)), v > 0, v * Double(scale) < 9.2e18 else { return nil }
        return Int(v * Double(scale))
    }

    /// Throws unless `elements` Float32 values (times `copies`) fit the budget.
    public static func check(elements: Int, copies: Int = 1, _ what: @autoclosure () -> String) throws {
        let (bytes, o1) = elements.multipliedReportingOverflow(by: 4 * copies)
        if o1 || bytes > limit {
            throw CoreError.invalidArgument(
                "\(what()) needs \(o1 ? "more than 2^63 bytes" : describe(bytes)), above the memory budget of \(describe(limit))")
        }
    }

    /// Throws unless a tensor of `shape` fits the budget.
    public static func check(shape: [Int], _ what: @autoclosure () -> String) throws {
        guard let n = Shape.count(shape) else {
            throw CoreError.invalidArgument("\(what()) of shape \(Shape.describe(shape)) has more elements than can be counted")
        }
        try check(elements: n, "\(what()) of shape \(Shape.describe(shape))")
    }

    /// Hands freed memory back to the system. glibc keeps freed blocks in its heaps (and raises its
    /// mmap threshold after big frees, so later big tensors come from the heap too); a long REPL
    /// session would otherwise keep the high-water mark of every input. Called after each input.
    public static func releaseFreeMemory() {
        #if os(Linux)
        _ = glibcMallocTrim(0)
        #endif
    }

    /// One malloc arena for the whole process (glibc's default is 8 per core). Memory freed by
    /// worker threads then returns to the heap `releaseFreeMemory` trims; with an arena per thread
    /// a long REPL session keeps every arena's high-water mark (a 1,000-input soak grew 13.9%
    /// with the default, 1.8% with one arena). Must run before other threads start.
    public static func useOneHeap() {
        #if os(Linux)
        _ = glibcMallopt(-8, 1)  // M_ARENA_MAX
        #endif
    }

    /// Keeps freed memory in the heap while work runs: blocks up to 64 MiB come from the heap rather
    /// than their own mappings, and the heap's top is returned to the system only past 256 MiB of
    /// free space. Otherwise a loop that makes and drops the same tensors every step (a training
    /// step's activations and gradients) maps fresh memory each time and pays a page fault per 4 KiB:
    /// a CNN training step spent a quarter of its time in the kernel zeroing pages (300 steps 7.9 s →
    /// 6.0 s). The REPL and the kernel still trim after every input (`releaseFreeMemory`).
    public static func keepFreedMemory() {
        #if os(Linux)
        _ = glibcMallopt(-3, 64 << 20)  // M_MMAP_THRESHOLD
        _ = glibcMallopt(-1, 256 << 20)  // M_TRIM_THRESHOLD
        #endif
    }

    /// Asks the kernel to back a fresh big buffer with 2 MiB pages. This machine's transparent huge
    /// pages are in `madvise` mode, so without the hint every 4 KiB of a new result costs a page
    /// fault (a 64 MiB output: 16,384 faults, most of RTN's time); with it, 32. Only the 2 MiB-aligned
    /// interior is advised; buffers under 4 MiB are left alone. Harmless where unsupported.
    @inlinable
    public static func preferHugePages(_ start: UnsafeMutableRawPointer?, bytes: Int) {
        #if os(Linux)
        guard let start, bytes >= 4 << 20 else { return }
        let huge = 2 << 20
        let a = (Int(bitPattern: start) + huge - 1) & ~(huge - 1)
        let b = (Int(bitPattern: start) + bytes) & ~(huge - 1)
        guard b > a, let p = UnsafeMutableRawPointer(bitPattern: a) else { return }
        _ = madvise(p, b - a, 14)  // MADV_HUGEPAGE
        #endif
    }

    /// "1.5 GiB".
    public static func describe(_ bytes: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(bytes) bytes" : String(format: "%.1f %@", v, units[i])
    }
}

#if os(Linux)
/// glibc's `malloc_trim` (declared in <malloc.h>, which the Glibc module does not export).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
/// glibc's `mallopt`.
@_silgen_name("mallopt")
private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif
