"""models: the number-aware encoder, chunk and document embedders, their training on Ray Train,
batch inference on Ray Data, benchmarks and growth heads.

Bottom up (a module imports only those above it):
  config.py           typed configs and presets: tiny() (CPU), base() (ModernBERT-base), minilm()
  tokenizer.py        number-aware tokenizer: one [NUM] token per tagged number, values beside the ids
  number_bins.py      log-magnitude bins: positions, interpolation weights, decoding (pure math)
  number_embedding.py value -> vector added after the backbone's embedding LayerNorm
  number_head.py      hidden state -> bin logits + sign logit
  losses.py           two-hot / HL-Gauss soft CE with excess loss, sign BCE, MLM CE
  encoder.py          NumberAwareEncoder around a Hugging Face MLM backbone (inputs_embeds)
  model_files.py      build from a config or the hub, save/load as JSON + safetensors + tokenizer
  batching.py         token-budget batches, padding waste
  collator.py         15% masking, 80/10/10, for text tokens and numbers
  pretraining.py      Pretrainer (torch) and the Ray Train glue (TorchTrainer, checkpoints, metrics)
  numeracy.py         generated numeracy items (arithmetic, growth %, margins): training mix and eval set
  evaluate.py         masked-number evaluation: model vs median-magnitude and nearest-number baselines
  embedder_config.py  chunk embedder / aggregator configs and presets
  embedding_losses.py supervised contrastive (same-document positives), JEPA view agreement, SIGReg
  document_batching.py batches of >= P chunks from each of >= D documents near a token budget
  embedder.py         ChunkEmbedder: CLS bottleneck -> memory slots -> cross-attending decoder
  aggregator.py       DocumentAggregator: small all-global transformer over chunk vectors
  bottleneck_probe.py reconstruction with the true vs another chunk's CLS at 15/50/80% masking
  embedder_training.py, aggregator_training.py   their Ray Train loops (reuse pretraining's)
  embedding_models.py the Embedder protocol: MiniLM, number-aware encoders, chunk embedders by name/folder
  inference.py        Ray Data batch inference into chunk_embeddings / doc_embeddings
  benchmarks.py       paraphrase retrieval, numeric ordering, embedding geometry (frozen sentence sets)
  growth_heads.py     MLP head on document vectors, end-to-end aggregator fine-tuning on growth labels
Ray is imported only in the training loops and inference.py.
"""
