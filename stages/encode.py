"""encode: the corpus and query embeddings of the base or the fine-tuned model, a DVC output later stages read."""

from pathlib import Path
from typing import Optional

import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.embeddings import Embeddings
from syneg.params import for_stage

# Per stage that runs this script, the params keys its outputs depend on: dvc.yaml lists exactly these.
PARAMS = {
    "encode_base": ("model.base", "model.max_seq_length", "model.precision", "model.backend"),
    "encode_finetuned": ("model.max_seq_length", "model.precision", "model.backend"),
}

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(..., help="The prepare stage's folder."),
    out: Path = typer.Option(..., help="Folder for corpus.npy, queries.npy and manifest.json."),
    model_dir: Optional[Path] = typer.Option(None, help="A model folder (the train stage's); without it, "
                                             "params 'model.base'."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists for it."),
) -> None:
    """Encode every document and query (L2-normalised, rows in the prepared order) with params 'model.base'
    (stage encode_base) or the model in MODEL_DIR (stage encode_finetuned)."""
    stage = "encode_finetuned" if model_dir else "encode_base"
    setup(stage)
    p = for_stage(stage, PARAMS[stage], params)
    model = str(model_dir) if model_dir else p.get("model.base")
    emb = Embeddings.compute(store.load(data, qrels=False), model, p.get("model.max_seq_length"),
                             p.runtime("encode_batch_size"), p.get("model.precision"), p.runtime("encode_processes"),
                             p.get("model.backend"))
    emb.save(out, "finetuned" if model_dir else model)
    typer.echo(f"{stage}: {len(emb.doc_ids)} documents, {len(emb.query_ids)} queries, dim {emb.corpus.shape[1]}")


if __name__ == "__main__":
    run(app)
