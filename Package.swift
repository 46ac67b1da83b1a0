// swift-tools-version: 6.2
//
// firebuild: Dockerfiles and OCI images to microVM root filesystems, run as microVMs,
// composed by Lua recipes. Thin executable (`firebuild`), fat libraries, one module per
// concern; see README.md "Architecture" for the map.
//
// Dependencies, each chosen on purpose (every one costs CI build time on 2 cores):
// - swift-argument-parser: the CLI, help and shell completions; the standard, no alternative.
// - swift-log: one logging API for every module; text and JSON handlers are ours (FirebuildCore).
// - swift-crypto: SHA-256 for content digests and the build cache (streaming, BoringSSL-fast).
//   Hand-written SHA-256 would be slower and one more thing to get wrong.
// - swift-distributed-tracing: the light `Tracing` API every module creates spans with (no-op
//   until a tracer is bootstrapped); seconds to build.
// - No OpenTelemetry SDK: Telemetry has its own small tracer and OTLP/HTTP protobuf exporter
//   (hand-written encoder, a plain socket for http://, libcurl for https://). swift-otel was
//   dropped on purpose: starting its SwiftNIO/AsyncHTTPClient exporter and flushing it at exit
//   cost ~10 ms per command (50 % of `firebuild ls`; the target is < 2 %), and it pulled
//   SwiftNIO, async-http-client, swift-nio-ssl (BoringSSL) and swift-protobuf into every clean
//   build (10.5 min wall on the shared 2-core machine for Telemetry's first debug build).
// Foreign C libraries come from Debian packages through pkg-config (system-library targets),
// each with one thin C shim target for what Swift cannot import (macros, variadics, longjmp).
import PackageDescription

let swiftSettings: [SwiftSetting] = []

let package = Package(
    name: "firebuild",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "firebuild", targets: ["firebuild"]),
        .executable(name: "firebuild-init", targets: ["GuestInit"]),
        .executable(name: "tc-redirect-tap", targets: ["TapPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.1.0"),
    ],
    targets: [
        // MARK: foreign libraries (system library + thin C shim each)
        .systemLibrary(name: "CLua", path: "Sources/C/CLua", pkgConfig: "lua5.4",
                       providers: [.apt(["liblua5.4-dev"])]),
        .target(name: "CLuaShim", dependencies: ["CLua"], path: "Sources/C/CLuaShim"),
        .systemLibrary(name: "CCurl", path: "Sources/C/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CCurlShim", dependencies: ["CCurl"], path: "Sources/C/CCurlShim"),
        .systemLibrary(name: "CGit2", path: "Sources/C/CGit2", pkgConfig: "libgit2",
                       providers: [.apt(["libgit2-dev"])]),
        .target(name: "CGit2Shim", dependencies: ["CGit2"], path: "Sources/C/CGit2Shim"),
        .systemLibrary(name: "CZlib", path: "Sources/C/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/C/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        // syscalls Glibc does not expose to Swift (reboot, mount flags, tap ioctls, setns).
        // Named CSyscalls, not CSystem: apple/swift-system (once pulled in by swift-otel, and by
        // most server packages) declares a C target CSystem and target names must be unique
        // across the package graph (module aliasing does not work for C modules).
        .target(name: "CSyscalls", path: "Sources/C/CSyscalls"),

        // MARK: core and concerns
        .target(name: "FirebuildCore", dependencies: [
            "CSyscalls",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
        ], swiftSettings: swiftSettings),
        .target(name: "Dockerfile", dependencies: ["FirebuildCore"], swiftSettings: swiftSettings),
        .target(name: "HTTP", dependencies: ["FirebuildCore", "CCurl", "CCurlShim"], swiftSettings: swiftSettings),
        .target(name: "OCI", dependencies: ["FirebuildCore", "HTTP", "CZlib", "CZstd"], swiftSettings: swiftSettings),
        .target(name: "RootFS", dependencies: ["FirebuildCore"], swiftSettings: swiftSettings),
        .target(name: "Store", dependencies: ["FirebuildCore", "OCI", "RootFS"], swiftSettings: swiftSettings),
        .target(name: "Guest", swiftSettings: swiftSettings),  // no Foundation: the static guest init links it
        .executableTarget(name: "GuestInit", dependencies: ["Guest", "CSyscalls"], swiftSettings: swiftSettings),
        .target(name: "Networking", dependencies: ["FirebuildCore", "CSyscalls"], swiftSettings: swiftSettings),
        .executableTarget(name: "TapPlugin", dependencies: ["Networking"], swiftSettings: swiftSettings),
        .target(name: "VM", dependencies: ["FirebuildCore", "Guest", "HTTP", "Store", "Networking", "Git", "CZlib"], swiftSettings: swiftSettings),
        .target(name: "Git", dependencies: ["FirebuildCore", "CGit2", "CGit2Shim"], swiftSettings: swiftSettings),
        .target(name: "Runtime", dependencies: ["FirebuildCore", "Store", "VM", "Networking"], swiftSettings: swiftSettings),
        .target(name: "Build", dependencies: ["FirebuildCore", "Dockerfile", "OCI", "Store", "VM", "Guest", "Networking", "Git", "HTTP", "CSyscalls"],
                swiftSettings: swiftSettings),
        .target(name: "LuaRuntime", dependencies: ["FirebuildCore", "CLua", "CLuaShim"], swiftSettings: swiftSettings),
        .target(name: "Recipe", dependencies: ["FirebuildCore", "LuaRuntime", "Dockerfile", "OCI", "RootFS", "Store", "VM", "Networking", "Build", "Runtime", "Guest"],
                swiftSettings: swiftSettings),
        .target(name: "Telemetry", dependencies: [
            "FirebuildCore", "HTTP",
            .product(name: "Tracing", package: "swift-distributed-tracing"),
        ], swiftSettings: swiftSettings),
        .target(name: "FirebuildCLI", dependencies: [
            "FirebuildCore", "Telemetry", "Dockerfile", "OCI", "Store", "RootFS", "VM", "Networking", "Build", "Runtime", "Recipe",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "firebuild", dependencies: ["FirebuildCLI"], swiftSettings: swiftSettings),

        // MARK: tests (swift-testing), one target per module plus real end-to-end tests
        // Host facts and the CNI test network shared by the end-to-end tests of several modules.
        .target(name: "FirebuildTestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "FirebuildCoreTests", dependencies: ["FirebuildCore"]),
        .testTarget(name: "DockerfileTests", dependencies: ["Dockerfile"]),
        .testTarget(name: "OCITests", dependencies: ["OCI", "HTTP"]),
        .testTarget(name: "RootFSTests", dependencies: ["RootFS"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"]),
        .testTarget(name: "GuestTests", dependencies: ["Guest"], exclude: ["Scripts"]),
        .testTarget(name: "NetworkingTests", dependencies: ["Networking", "FirebuildTestSupport"]),
        .testTarget(name: "VMTests", dependencies: ["VM", "Git", "Store", "FirebuildTestSupport"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "VM", "Store", "RootFS", "Networking", "Guest", "FirebuildTestSupport"]),
        .testTarget(name: "LuaRuntimeTests", dependencies: ["LuaRuntime"]),
        .testTarget(name: "RecipeTests", dependencies: ["Recipe", "FirebuildTestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["FirebuildCLI"]),
        .testTarget(name: "BuildTests", dependencies: ["Build", "VM", "Store", "Dockerfile", "Networking", "Runtime", "Guest", "FirebuildTestSupport"], exclude: ["Corpus"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry", "Store", "Build", "VM"]),
    ],
    // Swift 5 language mode: the Lua state is confined to one thread by design and the C
    // libraries hand us raw pointers; strict Sendable checking would add noise, not safety.
    swiftLanguageModes: [.v5]
)
