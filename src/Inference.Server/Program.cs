using Inference.Server.Hosting;
using Inference.Server.Persistence;

var builder = WebApplication.CreateBuilder(args);
builder.AddInferencePlatform();

var app = builder.Build();
await app.PrepareDatabaseAsync();
app.MapInferencePlatform();
await app.RunAsync();
