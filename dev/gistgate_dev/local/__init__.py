"""The local stack behind ``make dev``: a template-driven API Gateway, process-isolated
function workers, moto and the fake GitHub."""
