/// BuildKit's builder-flag rules (BFlags): every flag must be declared by the instruction, booleans
/// accept `--f`, `--f=true|false`, strings need `=value`, repeatable flags collect values.
struct BuilderFlags {
    enum Kind { case bool, string, strings }
    private var kinds: [String: Kind] = [:]
    private(set) var values: [String: String] = [:]
    private(set) var lists: [String: [String]] = [:]
    private(set) var used: Set<String> = []
    let args: [String]

    init(_ args: [String]) { self.args = args }

    mutating func declare(_ name: String, _ kind: Kind) { kinds[name] = kind }

    func string(_ name: String) -> String? { values[name] }
    func bool(_ name: String) -> Bool { values[name] == "true" }
    func strings(_ name: String) -> [String] { lists[name] ?? [] }
    func isUsed(_ name: String) -> Bool { used.contains(name) }

    mutating func parse() throws {
        for a in args {
            if a == "--" { return }
            guard a.hasPrefix("--") else { throw LineError("arg should start with -- : \(a)") }
            let eq = a.firstIndex(of: "=")
            let flagName = eq.map { String(a[..<$0]) } ?? a
            let value = eq.map { String(a[a.index(after: $0)...]) }
            let name = String(flagName.dropFirst(2))
            guard let kind = kinds[name] else {
                throw LineError("unknown flag: \(flagName)" + suggestion(for: name))
            }
            if used.contains(name) && kind != .strings {
                throw LineError("duplicate flag specified: \(flagName)")
            }
            used.insert(name)
            switch kind {
            case .bool:
                if let value, value.isEmpty { throw LineError("missing a value on flag: \(flagName)") }
                switch (value ?? "").lowercased() {
                case "true", "": values[name] = "true"
                case "false": values[name] = "false"
                default: throw LineError("expecting boolean value for flag \(flagName), not: \(value ?? "")")
                }
            case .string:
                guard let value else { throw LineError("missing a value on flag: \(flagName)") }
                values[name] = value
            case .strings:
                guard let value else { throw LineError("missing a value on flag: \(flagName)") }
                lists[name, default: []].append(value)
            }
        }
    }

    /// " (did you mean --x?)" for a near miss, as BuildKit's suggest package does.
    private func suggestion(for name: String) -> String {
        var best: (name: String, distance: Int)?
        for key in kinds.keys.sorted() {
            let d = editDistance(key, name)
            guard d <= 2 || key.hasPrefix(name) else { continue }
            if best == nil || d < best!.distance { best = (key, d) }
        }
        return best.map { " (did you mean --\($0.name)?)" } ?? ""
    }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    for i in 1...a.count {
        var cur = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return prev[b.count]
}
