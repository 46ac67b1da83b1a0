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
// - swift-otel (OTLP/HTTP exporter only, trait "OTLPHTTP"; gRPC is not built): linked by the
//   Telemetry module alone. The heaviest dependency: it pulls SwiftNIO, async-http-client,
//   swift-nio-ssl and swift-protobuf. Measured here: first debug build of Telemetry with all of
//   that, 10.5 min wall / 6.5 min user CPU on the shared 2-core machine (BoringSSL in
//   swift-nio-ssl is about half); incremental builds are unaffected.
//   swift-service-lifecycle is listed only so Telemetry can shut the exporter down (it is
//   already a dependency of swift-otel: no extra build).
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
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.4.1"),
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
        // Named CSyscalls, not CSystem: apple/swift-system (pulled in by swift-otel through
        // SwiftNIO/async-http-client) declares a C target CSystem and target names must be unique
        // across the package graph (module aliasing does not work for C modules).
        .target(name: "CSyscalls", path: "Sources/C/CSyscalls"),

        // MARK: core and concerns
        .target(name: "FirebuildCore", dependencies: [
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
        .target(name: "Build", dependencies: ["FirebuildCore", "Dockerfile", "OCI", "Store", "VM", "Guest", "Networking", "Git", "HTTP", "Runtime"],
                swiftSettings: swiftSettings),
        .target(name: "LuaRuntime", dependencies: ["FirebuildCore", "CLua", "CLuaShim"], swiftSettings: swiftSettings),
        .target(name: "Recipe", dependencies: ["FirebuildCore", "LuaRuntime", "Dockerfile", "OCI", "RootFS", "Store", "VM", "Networking", "Build", "Runtime", "Guest"],
                swiftSettings: swiftSettings),
        .target(name: "Telemetry", dependencies: [
            "FirebuildCore",
            .product(name: "Tracing", package: "swift-distributed-tracing"),
            .product(name: "OTel", package: "swift-otel"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),
        .target(name: "FirebuildCLI", dependencies: [
            "FirebuildCore", "Telemetry", "Dockerfile", "OCI", "Store", "RootFS", "VM", "Networking", "Build", "Runtime", "Recipe",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "firebuild", dependencies: ["FirebuildCLI"], swiftSettings: swiftSettings),

        // MARK: tests (swift-testing), one target per module plus real end-to-end tests
        .testTarget(name: "FirebuildCoreTests", dependencies: ["FirebuildCore"]),
        .testTarget(name: "DockerfileTests", dependencies: ["Dockerfile"]),
        .testTarget(name: "OCITests", dependencies: ["OCI", "HTTP"]),
        .testTarget(name: "RootFSTests", dependencies: ["RootFS"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"]),
        .testTarget(name: "GuestTests", dependencies: ["Guest"], exclude: ["Scripts"]),
        .testTarget(name: "NetworkingTests", dependencies: ["Networking"]),
        .testTarget(name: "VMTests", dependencies: ["VM", "Git", "Store"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "VM", "Store", "RootFS", "Networking", "Guest"]),
        .testTarget(name: "LuaRuntimeTests", dependencies: ["LuaRuntime"]),
        .testTarget(name: "RecipeTests", dependencies: ["Recipe"]),
        .testTarget(name: "CLITests", dependencies: ["FirebuildCLI"]),
        .testTarget(name: "BuildTests", dependencies: ["Build", "VM", "Store", "Dockerfile", "Networking", "Runtime", "Guest"], exclude: ["Corpus"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry", "Store", "Build", "VM"]),
    ],
    // Swift 5 language mode: the Lua state is confined to one thread by design and the C
    // libraries hand us raw pointers; strict Sendable checking would add noise, not safety.
    swiftLanguageModes: [.v5]
)
