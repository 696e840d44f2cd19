using System.CommandLine;
using Engine.Api.V1;

namespace Engine.Cli;

/// <summary>Small read and admin commands that print the server's JSON answer.</summary>
public static class LookupCommands
{
    public static Command Customer()
    {
        var id = new Argument<string>("customer-id");
        var history = new Option<bool>("--history") { Description = "Print the transition history too" };
        var command = new Command("customer", "Show a customer (and its history)") { id, history };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new SegmentService.SegmentServiceClient(Common.Channel(parse));
            Common.Print(await client.GetCustomerAsync(new GetCustomerRequest { CustomerId = parse.GetValue(id)! }, cancellationToken: ct));
            if (parse.GetValue(history))
            {
                Common.Print(await client.GetHistoryAsync(new GetHistoryRequest { CustomerId = parse.GetValue(id)! }, cancellationToken: ct));
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Segments()
    {
        var matrix = new Option<bool>("--matrix") { Description = "Print the all-time transition matrix too" };
        var command = new Command("segments", "List the current segments with sizes and centroids") { matrix };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new SegmentService.SegmentServiceClient(Common.Channel(parse));
            Common.Print(await client.ListSegmentsAsync(new ListSegmentsRequest(), cancellationToken: ct));
            if (parse.GetValue(matrix))
            {
                Common.Print(await client.GetTransitionMatrixAsync(new GetTransitionMatrixRequest(), cancellationToken: ct));
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Retrain()
    {
        var k = new Option<int>("--k") { Description = "Number of segments (0 = the server's default)" };
        var command = new Command("retrain", "Retrain the model now and wait until it is published") { k };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new ModelService.ModelServiceClient(Common.Channel(parse));
            Common.Print(await client.RetrainAsync(new RetrainRequest { K = parse.GetValue(k) }, cancellationToken: ct));
            return ExitCodes.Ok;
        });
        return command;
    }
}
