from keyforge_assets.main import main

main()
