// Handlers read their configuration at module load; unit tests give them names that reach nothing.
process.env['AWS_REGION'] = 'us-east-1';
process.env['AWS_ACCESS_KEY_ID'] = 'test';
process.env['AWS_SECRET_ACCESS_KEY'] = 'test';
process.env['STATUSES_TABLE'] = 'Statuses';
process.env['CONNECTIONS_TABLE'] = 'Connections';
process.env['FOLLOWS_TABLE'] = 'Follows';
process.env['CONNECTIONS_ENDPOINT'] = 'https://api.example.invalid/dev';
process.env['DELIVERY_QUEUE_URL'] = 'https://sqs.us-east-1.example.invalid/000000000000/delivery.fifo';
process.env['JWT_SECRET_ARN'] = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:jwt';
process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
process.env['AUTH_MODE'] = 'hs256';
process.env['UPDRAFT_STAGE'] = 'test';
// EMF lines would fill the test output; tests that check metrics turn them back on for their module.
process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
// A test's DynamoDB Local lives for seconds: compiled by the JIT's first tier only, it starts in half the
// time and half the CPU (-XX:TieredStopAtLevel=1). `npm start` and the benchmarks keep the JVM's default.
process.env['JAVA_TOOL_OPTIONS'] = [process.env['JAVA_TOOL_OPTIONS'], '-XX:TieredStopAtLevel=1'].filter(Boolean).join(' ');
