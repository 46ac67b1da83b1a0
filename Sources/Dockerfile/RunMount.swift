/// One `RUN --mount=…` option set, parsed with BuildKit's rules (CSV fields, defaults, validation).
public struct RunMount: Equatable, Sendable {
    public enum MountType: String, Sendable { case bind, cache, tmpfs, secret, ssh }
    public enum Sharing: String, Sendable { case shared, `private`, locked }

    public var type: MountType = .bind
    public var from: String?
    public var source: String?
    public var target: String?
    public var readOnly = false
    public var sizeLimit: Int64?
    public var id: String?
    public var sharing: Sharing?
    public var required = false
    public var env: String?
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?

    static func checkFromHasNoVariable(_ spec: String) throws {
        for field in try csvFields(spec) {
            guard let eq = field.firstIndex(of: "=") else { continue }
            guard field[..<eq].lowercased() == "from" else { continue }
            let value = Array(field[field.index(after: eq)...])
            if let i = value.firstIndex(of: "$"), i != value.count - 1 {
                throw LineError("'from' doesn't support variable expansion, define alias stage instead")
            }
        }
    }

    /// Parses one spec, expanding each value with `expand` (the instruction's environment).
    static func parse(_ spec: String, expand: (String) throws -> String) throws -> RunMount {
        var m = RunMount()
        var roAuto = true
        for field in try csvFields(spec) {
            let eq = field.firstIndex(of: "=")
            let key = (eq.map { String(field[..<$0]) } ?? field).lowercased()
            guard let eq else {
                switch key {
                case "readonly", "ro": m.readOnly = true; roAuto = false
                case "readwrite", "rw": m.readOnly = false; roAuto = false
                case "required":
                    guard m.type == .secret || m.type == .ssh else {
                        throw LineError("unexpected key '\(key)' for mount type '\(m.type.rawValue)'")
                    }
                    m.required = true
                default: throw LineError("invalid field '\(field)' must be a key=value pair")
                }
                continue
            }
            let value = try expand(String(field[field.index(after: eq)...]))
            func bool() throws -> Bool {
                switch value.lowercased() {
                case "1", "t", "true": return true
                case "0", "f", "false": return false
                default: throw LineError("invalid value for \(key): \(value)")
                }
            }
            func uint(_ radix: Int, _ what: String) throws -> UInt32 {
                guard let v = UInt32(value, radix: radix) else { throw LineError("invalid value \(value) for \(what)") }
                return v
            }
            switch key {
            case "type":
                guard let t = MountType(rawValue: value.lowercased()) else {
                    throw LineError("unsupported mount type \(GoQuote.quote(value))")
                }
                m.type = t
            case "from": m.from = value
            case "source", "src": m.source = value
            case "target", "dst", "destination": m.target = value
            case "readonly", "ro": m.readOnly = try bool(); roAuto = false
            case "readwrite", "rw": m.readOnly = !(try bool()); roAuto = false
            case "required":
                guard m.type == .secret || m.type == .ssh else {
                    throw LineError("unexpected key '\(key)' for mount type '\(m.type.rawValue)'")
                }
                m.required = try bool()
            case "size":
                guard m.type == .tmpfs else { throw LineError("unexpected key '\(key)' for mount type '\(m.type.rawValue)'") }
                guard let n = ramInBytes(value) else { throw LineError("invalid value for \(key): \(value)") }
                m.sizeLimit = n
            case "id": m.id = value
            case "sharing":
                guard let s = Sharing(rawValue: value.lowercased()) else {
                    throw LineError("unsupported sharing value \(GoQuote.quote(value))")
                }
                m.sharing = s
            case "mode": m.mode = try uint(8, "mode")
            case "uid": m.uid = try uint(10, "uid")
            case "gid": m.gid = try uint(10, "gid")
            case "env": m.env = value
            default: throw LineError("unexpected key '\(key)' in '\(field)'")
            }
        }
        if !(m.type == .secret || m.type == .ssh || m.type == .cache) {
            if m.mode != nil { throw LineError("mode not allowed for \(GoQuote.quote(m.type.rawValue)) type mounts") }
            if m.uid != nil { throw LineError("uid not allowed for \(GoQuote.quote(m.type.rawValue)) type mounts") }
            if m.gid != nil { throw LineError("gid not allowed for \(GoQuote.quote(m.type.rawValue)) type mounts") }
        }
        if roAuto { m.readOnly = !(m.type == .cache || m.type == .tmpfs) }
        if m.type == .secret {
            if m.from != nil { throw LineError("secret mount should not have a from") }
            if m.sharing != nil { throw LineError("secret mount should not define sharing") }
            if m.source == nil && m.target == nil && m.id == nil {
                throw LineError("invalid secret mount. one of source, target required")
            }
            if m.source != nil && m.id != nil { throw LineError("both source and id can't be set") }
        }
        if m.sharing != nil && m.type != .cache {
            throw LineError("invalid cache sharing set for \(m.type.rawValue) mount")
        }
        return m
    }

    /// One CSV record: comma-separated fields, `"…"` quoting with `""` for a quote.
    static func csvFields(_ s: String) throws -> [String] {
        var fields: [String] = []
        var cur = ""
        var inQuotes = false
        var atFieldStart = true
        var chars = Array(s)[...]
        while let c = chars.popFirst() {
            if inQuotes {
                if c == "\"" {
                    if chars.first == "\"" { chars.removeFirst(); cur.append("\"") } else { inQuotes = false }
                } else { cur.append(c) }
            } else if c == "," {
                fields.append(cur); cur = ""; atFieldStart = true; continue
            } else if c == "\"" && atFieldStart {
                inQuotes = true
            } else if c == "\"" {
                throw LineError("failed to parse csv mounts: bare \" in non-quoted field")
            } else {
                cur.append(c)
            }
            atFieldStart = false
        }
        if inQuotes { throw LineError("failed to parse csv mounts: extraneous or missing \" in quoted field") }
        fields.append(cur)
        return fields
    }

    /// docker/go-units RAMInBytes: `64m`, `1g`, `512kb`, `100` (binary multiples).
    static func ramInBytes(_ s: String) -> Int64? {
        let lower = s.lowercased().trimmingSuffix("b").trimmingSuffix("i")
        let digits = lower.prefix { $0.isNumber || $0 == "." }
        guard let n = Double(digits), n >= 0 else { return nil }
        let unit = lower.dropFirst(digits.count).trimmingCharacters(in: " ")
        let mult: Double
        switch unit {
        case "": mult = 1
        case "k": mult = 1024
        case "m": mult = 1024 * 1024
        case "g": mult = 1024 * 1024 * 1024
        case "t": mult = 1024 * 1024 * 1024 * 1024
        case "p": mult = 1024 * 1024 * 1024 * 1024 * 1024
        default: return nil
        }
        return Int64(n * mult)
    }
}

private extension String {
    func trimmingSuffix(_ c: Character) -> String { last == c ? String(dropLast()) : self }
}

private extension Substring {
    func trimmingCharacters(in set: Character) -> String { String(drop { $0 == set }.reversed().drop { $0 == set }.reversed()) }
}
