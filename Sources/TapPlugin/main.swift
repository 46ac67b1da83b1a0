// tc-redirect-tap CNI plugin (implementation in progress).
print("tc-redirect-tap: not yet implemented")
