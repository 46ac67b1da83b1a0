import FirebuildCLI

FirebuildCommand.main()
