from keyforge_hive.main import main

main()
