import FirebuildCore
import Foundation
import Testing
@testable import VM

/// The Firecracker swagger file, parsed once. Searched for next to the checkout (shared/ sits beside it).
enum FirecrackerSpec {
    static let path: String? = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        for _ in 0..<6 {
            for candidate in ["shared/reference/firecracker/firecracker.yaml", "reference/firecracker/firecracker.yaml"] {
                let p = dir.appendingPathComponent(candidate).path
                if FileManager.default.fileExists(atPath: p) { return p }
            }
            dir.deleteLastPathComponent()
        }
        return ["/work/shared/reference/firecracker/firecracker.yaml"].first { FileManager.default.fileExists(atPath: $0) }
    }()

    static let spec: [String: Any] = {
        guard let path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        return MiniYAML.parse(text) as? [String: Any] ?? [:]
    }()

    static var definitions: [String: Any] { spec["definitions"] as? [String: Any] ?? [:] }

    /// The body schema name of `METHOD path` (path templates such as /drives/{drive_id} match).
    static func bodyDefinition(method: String, path: String) -> String? {
        guard let paths = spec["paths"] as? [String: Any] else { return nil }
        for (template, value) in paths {
            let t = template.split(separator: "/"), p = path.split(separator: "/")
            guard t.count == p.count, zip(t, p).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) else { continue }
            guard let op = (value as? [String: Any])?[method.lowercased()] as? [String: Any],
                  let params = op["parameters"] as? [[String: Any]],
                  let body = params.first(where: { $0["in"] as? String == "body" }),
                  let ref = (body["schema"] as? [String: Any])?["$ref"] as? String else { return nil }
            return ref.components(separatedBy: "/").last
        }
        return nil
    }

    /// Validates JSON against a swagger schema: $ref, type, required, properties (unknown ones are
    /// errors, as Firecracker rejects unknown fields), enum, minimum, maximum.
    static func validate(_ value: Any, schema: [String: Any], at path: String = "$") -> [String] {
        if let ref = schema["$ref"] as? String {
            let name = ref.components(separatedBy: "/").last ?? ""
            guard let def = definitions[name] as? [String: Any] else { return ["\(path): unknown $ref \(ref)"] }
            return validate(value, schema: def, at: path)
        }
        var errors: [String] = []
        switch schema["type"] as? String {
        case "object":
            guard case .object(let obj) = value as? JSONValue else { return ["\(path): expected object"] }
            for req in schema["required"] as? [Any] ?? [] {
                if let r = req as? String, obj[r] == nil { errors.append("\(path): missing required \(r)") }
            }
            let props = schema["properties"] as? [String: Any] ?? [:]
            for (k, v) in obj {
                guard let sub = props[k] as? [String: Any] else { errors.append("\(path): unknown property \(k)"); continue }
                errors += validate(v, schema: sub, at: "\(path).\(k)")
            }
        case "string":
            guard case .string(let s) = value as? JSONValue else { return ["\(path): expected string"] }
            if let e = schema["enum"] as? [Any], !e.contains(where: { "\($0)" == s }) { errors.append("\(path): \(s) not in \(e)") }
        case "integer":
            guard case .int(let n) = value as? JSONValue else { return ["\(path): expected integer"] }
            if let min = schema["minimum"] as? Int, n < min { errors.append("\(path): \(n) < minimum \(min)") }
            if let max = schema["maximum"] as? Int, n > max { errors.append("\(path): \(n) > maximum \(max)") }
        case "boolean":
            guard case .bool = value as? JSONValue else { return ["\(path): expected boolean"] }
        default:
            break
        }
        return errors
    }

    static func validate(_ request: FirecrackerAPI.Request) -> [String] {
        guard let def = bodyDefinition(method: request.method, path: request.path) else {
            return ["\(request.method) \(request.path): no such operation with a body in the spec"]
        }
        guard def == request.definition else { return ["\(request.path): spec body is \(def), driver says \(request.definition ?? "-")"] }
        guard let body = request.body, let json = try? JSONDecoder().decode(JSONValue.self, from: body) else { return ["\(request.path): body is not JSON"] }
        return validate(json, schema: ["$ref": "#/definitions/\(def)"])
    }
}

/// JSON with its types kept exact (a Bool is never a number, an Int never a Double).
enum JSONValue: Decodable, Equatable {
    case bool(Bool), int(Int), double(Double), string(String), array([JSONValue]), object([String: JSONValue]), null

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
}
