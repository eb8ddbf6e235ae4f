from keyforge_assetmgr.main import main

main()
