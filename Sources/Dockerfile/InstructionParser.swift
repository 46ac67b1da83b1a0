import FirebuildCore

extension ParsedDockerfile {
    /// Every instruction typed (BuildKit's instructions.Parse); errors carry "FILE:LINE".
    public func typedInstructions() throws -> [(node: Node, instruction: Instruction)] {
        try instructions.map { node in (node, try typed(node)) }
    }

    /// Types one instruction; throws FirebuildError(.parse) located at its first line.
    public func typed(_ node: Node) throws -> Instruction {
        do { return try InstructionParser.parse(node) } catch let e as LineError {
            throw error(e.message, line: node.startLine)
        }
    }
}

enum InstructionParser {
    static func parse(_ node: Node) throws -> Instruction {
        var flags = BuilderFlags(node.flags)
        let args = node.flatArgs
        switch node.keyword {
        case "env":
            try flags.parse()
            return .env(try keyValues(args, "ENV"))
        case "maintainer":
            guard args.count == 1 else { throw LineError("MAINTAINER requires exactly one argument") }
            try flags.parse()
            return .maintainer(args[0])
        case "label":
            try flags.parse()
            return .label(try keyValues(args, "LABEL"))
        case "add", "copy":
            return .copy(try copy(node, args: args, flags: &flags, isAdd: node.keyword == "add"))
        case "from":
            return .from(try from(args, flags: &flags))
        case "onbuild":
            return .onbuild(try onbuild(node, args: args, flags: &flags))
        case "workdir":
            guard args.count == 1 else { throw LineError("WORKDIR requires exactly one argument") }
            try flags.parse()
            return .workdir(args[0])
        case "run":
            return .run(try run(node, args: args, flags: &flags))
        case "cmd":
            try flags.parse()
            return .cmd(form(node, args))
        case "entrypoint":
            try flags.parse()
            return .entrypoint(args.isEmpty ? nil : form(node, args))
        case "healthcheck":
            return .healthcheck(try healthcheck(node, args: args, flags: &flags))
        case "expose":
            guard !args.isEmpty else { throw LineError("EXPOSE requires at least one argument") }
            try flags.parse()
            return .expose(args.sorted())
        case "user":
            guard args.count == 1 else { throw LineError("USER requires exactly one argument") }
            try flags.parse()
            return .user(args[0])
        case "volume":
            guard !args.isEmpty else { throw LineError("VOLUME requires at least one argument") }
            try flags.parse()
            var vols: [String] = []
            for v in args {
                let t = v.goTrimmed
                if t.isEmpty { throw LineError("VOLUME specified can not be an empty string") }
                vols.append(t)
            }
            return .volume(vols)
        case "stopsignal":
            // BuildKit never parses STOPSIGNAL's flags.
            guard args.count == 1 else { throw LineError("STOPSIGNAL requires exactly one argument") }
            return .stopSignal(args[0])
        case "arg":
            guard !args.isEmpty else { throw LineError("ARG requires at least one argument") }
            return .arg(try args.map { a in
                guard let eq = a.firstIndex(of: "=") else { return ArgDeclaration(name: a, defaultValue: nil) }
                if eq == a.startIndex { throw LineError("ARG names can not be blank") }
                return ArgDeclaration(name: String(a[..<eq]), defaultValue: String(a[a.index(after: eq)...]))
            })
        case "shell":
            try flags.parse()
            guard !args.isEmpty else { throw LineError("SHELL requires at least one argument") }
            guard node.isJSON else {
                throw LineError("SHELL requires the arguments to be in JSON form")
            }
            return .shell(args)
        default:
            var message = "unknown instruction: \(node.value)"
            let known = ["ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
                         "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"]
            if let best = known.map({ ($0, editDistance($0, node.value.uppercased())) }).min(by: { $0.1 < $1.1 }),
               best.1 <= 2 {
                message += " (did you mean \(best.0.lowercased() == node.value ? best.0.lowercased() : best.0)?)"
            }
            throw LineError(message)
        }
    }

    static func form(_ node: Node, _ args: [String]) -> CommandForm {
        node.isJSON ? .exec(args) : .shell(args.joined(separator: " "))
    }

    static func keyValues(_ args: [String], _ cmd: String) throws -> [KeyValue] {
        if args.isEmpty { throw LineError("\(cmd) requires at least one argument") }
        if args.count % 3 != 0 { throw LineError("Bad input to \(cmd), too many arguments") }
        var out: [KeyValue] = []
        var i = 0
        while i < args.count {
            if args[i].isEmpty { throw LineError("\(cmd) names can not be blank") }
            out.append(KeyValue(key: args[i], value: args[i + 1], legacyFormat: args[i + 2].isEmpty))
            i += 3
        }
        return out
    }

    static func from(_ args: [String], flags: inout BuilderFlags) throws -> FromInstruction {
        var name: String?
        if args.count == 3 && args[1].lowercased() == "as" {
            let lower = args[2].lowercased()
            guard isValidStageName(lower) else {
                throw LineError("invalid name for build stage: \(GoQuote.quote(args[2])), name can't start with a number or contain symbols")
            }
            name = lower
        } else if args.count != 1 {
            throw LineError("FROM requires either one or three arguments")
        }
        flags.declare("platform", .string)
        try flags.parse()
        let platform = flags.string("platform").flatMap { $0.isEmpty ? nil : $0 }
        return FromInstruction(image: args[0], name: name, platform: platform)
    }

    /// `^[a-z][a-z0-9-_.]*$`
    static func isValidStageName(_ s: String) -> Bool {
        let u = Array(s.unicodeScalars)
        guard let f = u.first, f >= "a" && f <= "z" else { return false }
        return u.dropFirst().allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || "-_.".unicodeScalars.contains($0) }
    }

    static func copy(_ node: Node, args: [String], flags: inout BuilderFlags, isAdd: Bool) throws -> CopyInstruction {
        let cmd = isAdd ? "ADD" : "COPY"
        guard args.count >= 2 else {
            throw LineError("\(cmd) requires at least two arguments, but only one was provided. Destination could not be determined")
        }
        flags.declare("chown", .string)
        flags.declare("chmod", .string)
        flags.declare("link", .bool)
        flags.declare("exclude", .strings)
        if isAdd {
            flags.declare("keep-git-dir", .bool)
            flags.declare("checksum", .string)
            flags.declare("unpack", .bool)
        } else {
            flags.declare("from", .string)
            flags.declare("parents", .bool)
        }
        try flags.parse()
        let dest = args[args.count - 1]
        if (try? HeredocScan.parse(dest)) ?? nil != nil {
            throw LineError("\(cmd) cannot accept a heredoc as a destination")
        }
        var paths: [String] = []
        var inline: [InlineSource] = []
        for src in args.dropLast() {
            if let doc = (try? HeredocScan.parse(src)) ?? nil {
                let body = node.heredocs.last(where: { $0.name == doc.name })
                var content = body?.content ?? ""
                if doc.chomp { content = Heredoc(name: doc.name, expand: doc.expand, chomp: true, content: content).chompedContent }
                inline.append(InlineSource(path: doc.name, data: content, expand: doc.expand))
            } else {
                paths.append(src)
            }
        }
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        return CopyInstruction(
            isAdd: isAdd, sources: paths, inlineSources: inline, destination: dest,
            from: nonEmpty(flags.string("from")), chown: nonEmpty(flags.string("chown")),
            chmod: nonEmpty(flags.string("chmod")), link: flags.bool("link"), parents: flags.bool("parents"),
            excludes: flags.strings("exclude"), checksum: nonEmpty(flags.string("checksum")),
            keepGitDir: flags.isUsed("keep-git-dir") ? flags.bool("keep-git-dir") : nil,
            unpack: flags.isUsed("unpack") ? flags.bool("unpack") : nil)
    }

    static func onbuild(_ node: Node, args: [String], flags: inout BuilderFlags) throws -> OnbuildInstruction {
        guard let first = args.first, let trigger = node.children.first else {
            throw LineError("ONBUILD requires at least one argument")
        }
        try flags.parse()
        let t = first.goTrimmed.uppercased()
        switch t {
        case "ONBUILD": throw LineError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        case "MAINTAINER", "FROM": throw LineError("\(t) isn't allowed as an ONBUILD trigger")
        default: break
        }
        var expression = stripOnbuildKeyword(node.original)
        for doc in node.heredocs {
            expression += "\n" + doc.content + doc.name
        }
        return OnbuildInstruction(expression: expression, trigger: trigger)
    }

    /// Removes `(?i)^\s*ONBUILD\s*` from the original line.
    static func stripOnbuildKeyword(_ s: String) -> String {
        var u = Substring(s).unicodeScalars.drop(while: { goIsSpace($0.value) })
        guard u.count >= 7, String(String.UnicodeScalarView(u.prefix(7))).uppercased() == "ONBUILD" else { return s }
        u = u.dropFirst(7).drop(while: { goIsSpace($0.value) })
        return String(String.UnicodeScalarView(u))
    }

    static func run(_ node: Node, args: [String], flags: inout BuilderFlags) throws -> RunInstruction {
        flags.declare("mount", .strings)
        flags.declare("network", .string)
        flags.declare("security", .string)
        flags.declare("device", .strings)
        try flags.parse()
        let network = flags.string("network") ?? "default"
        guard ["default", "none", "host"].contains(network) else {
            throw LineError("invalid network mode \(GoQuote.quote(network))")
        }
        let security = flags.string("security") ?? "sandbox"
        guard ["sandbox", "insecure"].contains(security) else {
            throw LineError("security \(GoQuote.quote(security)) is not valid")
        }
        let specs = flags.strings("mount")
        // At parse time BuildKit only checks that `from` has no variable; the rest is checked once expanded.
        var mounts: [RunMount] = []
        for spec in specs {
            try RunMount.checkFromHasNoVariable(spec)
            if let m = try? RunMount.parse(spec, expand: { $0 }) { mounts.append(m) }
        }
        return RunInstruction(command: form(node, args), heredocs: node.heredocs, mountSpecs: specs, mounts: mounts,
                              network: network, security: security, devices: flags.strings("device"))
    }

    static func healthcheck(_ node: Node, args: [String], flags: inout BuilderFlags) throws -> Healthcheck {
        guard let first = args.first else { throw LineError("HEALTHCHECK requires at least one argument") }
        let typ = first.uppercased()
        let rest = Array(args.dropFirst())
        if typ == "NONE" {
            guard rest.isEmpty else { throw LineError("HEALTHCHECK NONE takes no arguments") }
            return Healthcheck(test: ["NONE"])
        }
        for f in ["interval", "timeout", "start-period", "start-interval", "retries"] { flags.declare(f, .string) }
        try flags.parse()
        guard typ == "CMD" else { throw LineError("Unknown type \(GoQuote.quote(typ)) in HEALTHCHECK (try CMD)") }
        let cmd = node.isJSON ? rest : (rest.isEmpty ? [] : [rest.joined(separator: " ")])
        guard !cmd.isEmpty else { throw LineError("Missing command after HEALTHCHECK CMD") }
        var hc = Healthcheck(test: [node.isJSON ? "CMD" : "CMD-SHELL"] + cmd)
        func interval(_ name: String) throws -> Int64? {
            guard let v = flags.string(name), !v.isEmpty else { return nil }
            let d = try GoDuration.parse(v)
            if d == 0 { return nil }
            if d < 1_000_000 { throw LineError("Interval \(GoQuote.quote(name)) cannot be less than 1ms") }
            return d
        }
        hc.interval = try interval("interval")
        hc.timeout = try interval("timeout")
        hc.startPeriod = try interval("start-period")
        hc.startInterval = try interval("start-interval")
        if let r = flags.string("retries"), !r.isEmpty {
            guard let n = Int32(r) else { throw LineError("strconv.ParseInt: parsing \(GoQuote.quote(r)): invalid syntax") }
            if n < 0 { throw LineError("--retries cannot be negative (\(n))") }
            hc.retries = Int(n)
        }
        return hc
    }
}

/// Go's time.ParseDuration, in nanoseconds.
enum GoDuration {
    static func parse(_ s: String) throws -> Int64 {
        let orig = s
        var u = Array(s.unicodeScalars)
        var neg = false
        if let f = u.first, f == "-" || f == "+" { neg = f == "-"; u.removeFirst() }
        if u == ["0"] { return 0 }
        guard !u.isEmpty else { throw LineError("time: invalid duration \(GoQuote.quote(orig))") }
        var total = 0.0
        var i = 0
        while i < u.count {
            let start = i
            while i < u.count, (u[i] >= "0" && u[i] <= "9") || u[i] == "." { i += 1 }
            guard i > start, let n = Double(String(String.UnicodeScalarView(u[start..<i]))) else {
                throw LineError("time: invalid duration \(GoQuote.quote(orig))")
            }
            let us = i
            while i < u.count, !(u[i] >= "0" && u[i] <= "9"), u[i] != "." { i += 1 }
            let unit = String(String.UnicodeScalarView(u[us..<i]))
            let scale: Double
            switch unit {
            case "ns": scale = 1
            case "us", "µs", "μs": scale = 1e3
            case "ms": scale = 1e6
            case "s": scale = 1e9
            case "m": scale = 60e9
            case "h": scale = 3600e9
            case "": throw LineError("time: missing unit in duration \(GoQuote.quote(orig))")
            default: throw LineError("time: unknown unit \(GoQuote.quote(unit)) in duration \(GoQuote.quote(orig))")
            }
            total += n * scale
        }
        guard total < 9.2e18 else { throw LineError("time: invalid duration \(GoQuote.quote(orig))") }
        return Int64(neg ? -total : total)
    }
}
