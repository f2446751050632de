"""models: the number-aware encoder, its losses, batching and MLM pretraining on Ray Train.

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
Ray is imported only inside pretraining.py's Ray functions.
"""
