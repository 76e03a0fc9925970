# goldrush worker / simulator image. Build: docker build -t goldrush .
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY goldrush ./goldrush
COPY patterns ./patterns
COPY models ./models
COPY agents ./agents
RUN pip install --no-cache-dir . && useradd --system --uid 10001 --user-group --home /app goldrush
USER 10001:10001

ENV GOLDRUSH_BROKER=kafka:9092
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:6066/health').status != 200)"
ENTRYPOINT ["goldrush"]
CMD ["worker", "--web-host", "0.0.0.0", "--partitions", "4"]
