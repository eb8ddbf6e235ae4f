from keyforge_cli.main import main

main()
