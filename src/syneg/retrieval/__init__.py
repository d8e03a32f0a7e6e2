"""First-stage retrievers: Lucene BM25 through Pyserini and exact dense search through faiss."""
