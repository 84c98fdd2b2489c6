"""Reading pretrained HuBERT / wav2vec 2.0 checkpoints (and writing random ones of their shape):
below both the recipe's SSL feature kind (``data.features.ssl_states``) and the model's SSL front
ends (``frontends.ssl``), which build the same fairseq classes from the same files."""
