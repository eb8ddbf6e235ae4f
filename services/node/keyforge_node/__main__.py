from keyforge_node.main import main

main()
