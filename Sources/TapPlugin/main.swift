// tc-redirect-tap: firebuild's implementation of the CNI plugin of that name (see
// Network/TapRedirectPlugin.swift). CNI protocol: command in CNI_* variables, config on stdin,
// result or error JSON on stdout, exit status 0 on success.
import Foundation
import Network

let input = FileHandle.standardInput.readDataToEndOfFile()
let plugin = TapRedirectPlugin(environment: ProcessInfo.processInfo.environment, stdin: input)
let (output, status) = plugin.main()
FileHandle.standardOutput.write(output)
exit(status)
