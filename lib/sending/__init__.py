"""Envío masivo: one customer's trip from Procesar to the mail server, in the order it happens.

1. `runs.create_run`: Procesar (or `lib.cli send`, or Reintentar fallidos) writes a send run and
   one `pending` item per customer, refusing customers already pending in another run.
2. `processes`: worker processes (the app's WORKERS, or `--procesos N` of a command) each run a
   `worker.Worker` loop; the app's web server draws no PDF.
3. `worker.Worker.step`: `queue.claim` takes the oldest claimable item; the statement is built
   and turned into the ready email by `lib.statements.message.ready`; `queue.to_sending` marks
   it; the `lib.mail` transport hands it over; `queue.finish` records sent / failed /
   uncertain, or `queue.requeue` puts it back when the server took nothing (the run pauses).
4. `worker.Worker.finish_runs`: the last item done, `queue.close_run` closes the run and the
   log (`log`: the manual's lines) is emailed to whoever ran it.
5. `worker.Worker.recover`: claims of workers that are gone are given back (or made uncertain).

`status` holds the states with their Spanish labels; `queue` every legal change of state.
"""
