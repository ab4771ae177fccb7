// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "squeeze",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "squeeze", targets: ["squeeze"]),
        .library(name: "SqueezeCore", targets: ["SqueezeCore"]),
        .library(name: "Compression", targets: ["Compression"]),
        .library(name: "Recipe", targets: ["Recipe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
    ],
    targets: [
        // System libraries: a module map and a shim header each, nothing else.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CReadline", providers: [.apt(["libreadline-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev", "zlib1g-dev"])]),
        .systemLibrary(name: "CCrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZMQ", providers: [.apt(["libzmq3-dev"])]),

        .target(name: "SqueezeCore", dependencies: [
            "CBLAS",
            .product(name: "RealModule", package: "swift-numerics"),
        ]),
        // Optimized in debug builds too, for the same reason as Models below: the LLM toolbox's searches
        // (AWQ's scales and clipping, SparseGPT) run over a real decoder in the test suite.
        .target(name: "Compression", dependencies: ["SqueezeCore", "CBLAS"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "Datasets", dependencies: ["SqueezeCore", "CZlib", "CPNG"]),
        // The decoder's kernels (attention, log-softmax over 49,152 tokens) run optimized in debug builds
        // too, so the test suite can evaluate a real model; bounds and overflow checks stay on (-O, not -Ounchecked).
        .target(name: "Models", dependencies: ["SqueezeCore", "Compression", "Datasets", "CBLAS"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // Reverse-mode differentiation (the tape), optimizers, convolution and pooling. Optimized in
        // debug builds too: the test suite trains small networks.
        .target(name: "Training", dependencies: ["SqueezeCore", "CBLAS"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "Recipe", dependencies: [
            "SqueezeCore", "Compression", "Datasets", "Plot", "Models", "Training",
            .product(name: "OrderedCollections", package: "swift-collections"),
        ], swiftSettings: [
            // The interpreter's frames are class-held arrays; dynamic exclusivity checks on every
            // variable access cost ~30% of a scalar loop. Accesses are single-threaded by design.
            .unsafeFlags(["-enforce-exclusivity=unchecked"]),
        ]),
        .target(name: "History", dependencies: ["SqueezeCore", "CSQLite", "CCrypto"]),
        // What connects a run to the store: the recorder (a RunObserver), the `--where` filter,
        // reports and notebooks. Above both the language and the history, below the executable.
        .target(name: "Runs", dependencies: ["Recipe", "History", "SqueezeCore"]),
        .target(name: "Plot", dependencies: ["CPNG", "CZlib"], exclude: ["LICENSE-DejaVu.txt"]),
        .target(name: "REPL", dependencies: ["Recipe", "SqueezeCore", "CReadline"]),
        // The Jupyter kernel: the messaging protocol over ZeroMQ, signed with HMAC-SHA256; records a
        // session through the REPL's SessionRecording, completes with the REPL's Completion.
        .target(name: "Kernel", dependencies: [
            "Recipe", "REPL", "SqueezeCore", "CZMQ", "CCrypto",
            .product(name: "OrderedCollections", package: "swift-collections"),
        ]),
        .executableTarget(
            name: "squeeze",
            dependencies: [
                "Recipe", "SqueezeCore", "REPL", "Kernel", "History", "Runs", "Plot",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "squeeze-bench", dependencies: ["SqueezeCore", "CBLAS"],
                          path: "Sources/squeeze-bench"),

        // libFuzzer harness (Scripts/fuzz builds it with -sanitize=fuzzer); a normal build replays a corpus.
        .executableTarget(name: "squeeze-fuzz", dependencies: ["Recipe", "SqueezeCore", "Datasets", "Plot"]),

        // Fixture loading and closeness checks shared by the test targets.
        .target(name: "TestSupport", dependencies: ["SqueezeCore"], path: "Tests/TestSupport"),
        .testTarget(name: "SqueezeCoreTests", dependencies: ["SqueezeCore", "Datasets", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "CompressionTests", dependencies: ["Compression", "SqueezeCore", "Datasets", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "RecipeTests", dependencies: ["Recipe", "SqueezeCore"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Recipe", "SqueezeCore", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "REPLTests", dependencies: ["REPL", "Recipe"]),
        .testTarget(name: "HistoryTests", dependencies: ["History", "Runs", "Recipe", "SqueezeCore"]),
        .testTarget(name: "PlotTests", dependencies: ["Plot", "Datasets"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "SqueezeCore", "Datasets", "History"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "SqueezeCore"], resources: [.copy("Fixtures")]),
    ]
)
