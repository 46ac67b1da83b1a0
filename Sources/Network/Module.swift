/// CNI networking, network namespaces, taps and port publishing.
